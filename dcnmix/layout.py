"""The correspondence between dcnmix_torch state_dict keys and dcnmix_jax variable paths
(of a DCN, and of the seed table's baselines).

Every torch tensor maps to one flax leaf (or one expert's slice of a stacked leaf) by one
transform (`layout(cfg)`); `arrays_to_flax` / `flax_to_arrays` convert numpy weights both
ways with it (exact copies: transposes and reshapes only, so round trips are bit-exact).
Inferring the ModelConfig from a state_dict's names and shapes lives here too.
Framework-free: numpy only (parity.convert adds the torch and jax types).
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from .config import ModelConfig


# dcnmix_torch's DNN is one nn.Sequential of (Linear, BatchNorm1d, ReLU, Dropout) per hidden
# layer: hidden layer i's Linear is dnn.mlp.{DNN_STRIDE * i}, its BatchNorm the next index.
DNN_STRIDE = 4


class LayoutError(ValueError):
    """A state_dict or variables tree that does not fit the DCN layout."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """torch_key <-> flax path; `transform`: 'copy', 'transpose' (torch [out, in] vs flax
    [in, out]), 'column' (torch [M, 1] vs flax [M]); `expert`: index into a stacked leaf."""

    torch_key: str
    path: tuple[str, ...]
    torch_shape: tuple[int, ...]
    transform: str = "copy"
    expert: int | None = None


def _dense(torch_prefix: str, path: tuple[str, ...], fan_in: int, fan_out: int, bias: bool = True):
    out = [Entry(f"{torch_prefix}.weight", path + ("kernel",), (fan_out, fan_in), "transpose")]
    if bias:
        out.append(Entry(f"{torch_prefix}.bias", path + ("bias",), (fan_out,)))
    return out


def _batch_norm(torch_prefix: str, path: tuple[str, ...], width: int) -> list[Entry]:
    """torch BatchNorm1d <-> dcnmix_jax TorchBatchNorm: scale and bias in params, the
    running statistics in batch_stats."""
    p, s = ("params",) + path, ("batch_stats",) + path
    return [Entry(f"{torch_prefix}.weight", p + ("scale",), (width,)),
            Entry(f"{torch_prefix}.bias", p + ("bias",), (width,)),
            Entry(f"{torch_prefix}.running_mean", s + ("mean",), (width,)),
            Entry(f"{torch_prefix}.running_var", s + ("var",), (width,)),
            Entry(f"{torch_prefix}.num_batches_tracked", s + ("count",), ())]


def layout(cfg: ModelConfig) -> list[Entry]:
    """Every tensor of the model with this configuration, in the torch state_dict's order."""
    if cfg.model != "dcn":
        return baseline_layout(cfg)
    m = cfg.input_num
    out = [Entry("embedding.embedding.weight", ("params", "embedding", "embedding"),
                 (cfg.feat_dim, cfg.emb_num))]
    width = m
    for i, h in enumerate(cfg.hidden_nums):
        out += _dense(f"dnn.mlp.{DNN_STRIDE * i}", ("params", "dnn", f"dense_{i}"), width, h)
        out += _batch_norm(f"dnn.mlp.{DNN_STRIDE * i + 1}", ("dnn", f"bn_{i}"), h)
        width = h
    out += cross_layout(cfg)
    linear_in = cfg.hidden_nums[-1] + (m if cfg.method == "parallel" else 0)
    out += _dense("linear", ("params", "linear"), linear_in, 1)
    return out


def baseline_layout(cfg: ModelConfig) -> list[Entry]:
    """A baseline's tensors (dcnmix_torch.baselines / dcnmix_jax.baselines share the names):
    first-order table and bias (all but PNN), the embedding table, OPNN's kernel, NFM's
    BatchNorm on the pooled pairs, then the DNN tower."""
    f, e, model = cfg.field_num, cfg.emb_num, cfg.model
    pairs = f * (f - 1) // 2
    # torch's order: a module's own parameters, then its submodules' in registration order
    if model == "pnn":
        out = [] if cfg.product == "inner" else [
            Entry("outer_kernel", ("params", "outer_kernel"), (e, pairs, e))]
    else:
        out = [Entry("bias", ("params", "bias"), (1,)),
               Entry("linear.weight", ("params", "linear", "embedding"), (cfg.feat_dim, 1))]
    out.append(Entry("embedding.weight", ("params", "embedding", "embedding"),
                     (cfg.feat_dim, f * e if model == "ffm" else e)))
    if model == "nfm":
        out += _batch_norm("bi_bn", ("bi_bn",), e)
    if model in ("fm", "ffm"):
        return out
    width = {"pnn": f * e + pairs * (2 if cfg.product == "both" else 1),
             "deepfm": f * e, "nfm": e}[model]
    for i, h in enumerate(cfg.hidden_nums):
        out += _dense(f"tower.dense_{i}", ("params", "tower", f"dense_{i}"), width, h)
        if cfg.batch_norm:
            out += _batch_norm(f"tower.bn_{i}", ("tower", f"bn_{i}"), h)
        width = h
    return out + _dense("tower.out", ("params", "tower", "out"), width, 1)


def cross_layout(cfg: ModelConfig, torch_prefix: str = "cross_net.",
                 path: tuple[str, ...] = ("params", "cross_net")) -> list[Entry]:
    """The cross network's tensors: under DCN (default) or, with torch_prefix '' and path
    ('params',), a standalone dcnmix_torch.CrossNet / dcnmix_jax.CrossNet of width cfg.input_num."""
    m, out = cfg.input_num, []
    for layer in range(cfg.order_num):
        t, p = f"{torch_prefix}cell_list.{layer}", path + (f"layers_{layer}",)
        if cfg.cross == "full":
            out += [Entry(f"{t}.w", p + ("kernel",), (m, m), "transpose"),
                    Entry(f"{t}.b", p + ("bias",), (m, 1), "column")]
            continue
        if not cfg.variant.expert_bias:
            out.append(Entry(f"{t}.bias", p + ("bias",), (m, 1), "column"))
        for e in range(cfg.k):
            c = f"{t}.cross_cell.{e}"
            out += [Entry(f"{c}.v", p + ("v",), (m, cfg.r), expert=e),
                    Entry(f"{c}.u", p + ("u",), (m, cfg.r), expert=e)]
            if cfg.variant.expert_bias:
                out.append(Entry(f"{c}.b", p + ("b",), (m, 1), "column", expert=e))
            if cfg.variant.c_matrix:
                out.append(Entry(f"{c}.c", p + ("c",), (cfg.r, cfg.r), expert=e))
        if cfg.variant.gate != "constant" and not cfg.variant.shared_gates:
            out += _dense(f"{t}.gate", p + ("gate",), m, cfg.k, cfg.variant.gate_bias)
    if cfg.cross == "mix" and cfg.variant.gate != "constant" and cfg.variant.shared_gates:
        out += _dense(f"{torch_prefix}gate", path + ("gate",), m, cfg.k, cfg.variant.gate_bias)
    return out


def flax_shape(entry: Entry, cfg: ModelConfig) -> tuple[int, ...]:
    """Shape of the whole flax leaf the entry lands in."""
    shape = entry.torch_shape
    if entry.transform == "transpose":
        shape = shape[::-1]
    elif entry.transform == "column":
        shape = shape[:1]
    return (cfg.k,) + shape if entry.expert is not None else shape


def _shape(shapes: dict, key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise LayoutError(f"missing key {key!r}: cannot infer the model configuration")
    return tuple(shapes[key])


def infer_config(shapes: dict[str, tuple[int, ...]], dropout: float = 0.1, **options) -> ModelConfig:
    """ModelConfig from torch state_dict key -> shape. What weights cannot tell (dropout, and
    of the variant options the gate's softmax vs sigmoid, the activation g, the
    initialisation scheme) comes from `options`, else the seed's defaults."""
    if "embedding.weight" in shapes and "embedding.embedding.weight" not in shapes:
        raise LayoutError("these are a baseline's weights (embedding.weight), which do not say the "
                          "model or its field count: convert a dcnmix weights file (a run's "
                          "best.safetensors), which holds its config")
    feat_dim, emb_num = _shape(shapes, "embedding.embedding.weight")
    layers = sorted({int(m.group(1)) for k in shapes
                     if (m := re.match(r"cross_net\.cell_list\.(\d+)\.", k))})
    if not layers or layers != list(range(len(layers))):
        raise LayoutError(f"cross layers must be numbered 0..n-1, found {layers}")
    experts = sorted({int(m.group(1)) for k in shapes
                      if (m := re.match(r"cross_net\.cell_list\.0\.cross_cell\.(\d+)\.", k))})
    if experts:
        cross, k = "mix", len(experts)
        m_dim, r = _shape(shapes, "cross_net.cell_list.0.cross_cell.0.u")
    elif "cross_net.cell_list.0.w" in shapes:
        cross, k, r = "full", 4, 16
        m_dim = _shape(shapes, "cross_net.cell_list.0.w")[0]
    else:
        raise LayoutError("cross layer 0 has neither experts (cross_cell.*) nor a full matrix (w)")
    if m_dim % emb_num:
        raise LayoutError(f"cross width {m_dim} is not a multiple of emb_num {emb_num} "
                          "(embedding.embedding.weight)")
    hidden = []
    while f"dnn.mlp.{DNN_STRIDE * len(hidden)}.weight" in shapes:
        hidden.append(_shape(shapes, f"dnn.mlp.{DNN_STRIDE * len(hidden)}.weight")[0])
    if not hidden:
        raise LayoutError("missing key 'dnn.mlp.0.weight': the DNN tower has no layer")
    linear_in = _shape(shapes, "linear.weight")[-1]
    if linear_in == hidden[-1] + m_dim:
        method = "parallel"
    elif linear_in == hidden[-1]:
        method = "stacked"
    else:
        raise LayoutError(f"linear.weight has input width {linear_in}: neither parallel "
                          f"({hidden[-1] + m_dim}) nor stacked ({hidden[-1]})")
    variant = {}
    if cross == "mix":
        gate_key = ("cross_net.gate" if "cross_net.gate.weight" in shapes
                    else "cross_net.cell_list.0.gate")
        has_gate = f"{gate_key}.weight" in shapes
        variant = dict(shared_gates=gate_key == "cross_net.gate",
                       gate_bias=f"{gate_key}.bias" in shapes,
                       expert_bias="cross_net.cell_list.0.cross_cell.0.b" in shapes,
                       c_matrix="cross_net.cell_list.0.cross_cell.0.c" in shapes)
        if not has_gate:  # the gate's other options then say nothing: leave them as given
            variant = {k: v for k, v in variant.items() if k not in ("shared_gates", "gate_bias")}
            variant["gate"] = "constant"
        elif options.get("gate") == "constant":
            raise LayoutError(f"gate='constant' given, but the weights hold a gate ({gate_key}.weight)")
    shape = dict(field_num=m_dim // emb_num, feat_dim=feat_dim, emb_num=emb_num,
                 order_num=len(layers), r=r, k=k, dropout=dropout, method=method,
                 hidden_nums=tuple(hidden), cross=cross)
    return ModelConfig.create(**{**shape, **options, **variant})


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _to_flax(entry: Entry, value: np.ndarray) -> np.ndarray:
    if entry.transform == "transpose":
        return value.T
    if entry.transform == "column":
        return value[:, 0]
    if entry.torch_key.endswith("num_batches_tracked"):
        return value.astype(np.int32)
    return value


def _to_torch(entry: Entry, value: np.ndarray) -> np.ndarray:
    if entry.transform == "transpose":
        return value.T
    if entry.transform == "column":
        return value[:, None]
    if entry.torch_key.endswith("num_batches_tracked"):
        return value.astype(np.int64)
    return value


def _check_keys(found, expected, what: str) -> None:
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing or unexpected:
        raise LayoutError(f"{what} does not match the inferred layout: missing {missing}, "
                          f"unexpected {unexpected}")


def arrays_to_flax(state_dict, config: ModelConfig | None = None) -> dict:
    """Flax variables {'params', 'batch_stats'} (numpy leaves) for dcnmix_jax.DCN(**cfg).apply,
    from a torch-keyed state_dict (numpy arrays, or anything with .detach().cpu().numpy())."""
    arrays = {k: _numpy(v) for k, v in state_dict.items()}
    cfg = config or infer_config({k: v.shape for k, v in arrays.items()})
    return entries_to_flax(arrays, layout(cfg), cfg)


def entries_to_flax(arrays: dict[str, np.ndarray], entries: list[Entry], cfg: ModelConfig) -> dict:
    """Nested flax variables from torch-keyed arrays laid out as `entries`."""
    _check_keys(arrays, [e.torch_key for e in entries], "state_dict")
    stacked: dict[tuple, np.ndarray] = {}
    for e in entries:
        value = _numpy(arrays[e.torch_key])
        if value.shape != e.torch_shape:
            raise LayoutError(f"{e.torch_key}: shape {value.shape}, expected {e.torch_shape} "
                              f"for {cfg}")
        value = _to_flax(e, value)
        if e.expert is None:
            stacked[e.path] = np.array(value)
        else:
            leaf = stacked.setdefault(e.path, np.empty(flax_shape(e, cfg), value.dtype))
            leaf[e.expert] = value
    return _nest(stacked)


def flax_to_arrays(variables, config: ModelConfig | None = None) -> dict[str, np.ndarray]:
    """torch state_dict (numpy values, torch key order) from flax variables."""
    flat = {path: _numpy(v) for path, v in _flatten(variables)}
    cfg = config or infer_config_from_flax(flat)
    return flax_to_entries(flat, layout(cfg), cfg)


def flax_to_entries(flat: dict[tuple, np.ndarray], entries: list[Entry], cfg: ModelConfig
                    ) -> dict[str, np.ndarray]:
    """torch-keyed arrays, in the order of `entries`, from flat flax leaves {path: array}."""
    if not isinstance(flat, dict) or any(not isinstance(k, tuple) for k in flat):
        flat = {path: _numpy(v) for path, v in _flatten(flat)}
    leaves = {e.path for e in entries}
    _check_keys(flat, sorted(leaves), "variables")
    out = {}
    for e in entries:
        value, want = flat[e.path], flax_shape(e, cfg)
        if value.shape != want:
            raise LayoutError(f"{'/'.join(e.path)}: shape {value.shape}, expected {want} "
                              f"(torch key {e.torch_key}) for {cfg}")
        if e.expert is not None:
            value = value[e.expert]
        out[e.torch_key] = np.array(_to_torch(e, value))
    return out


def infer_config_from_flax(flat: dict[tuple, np.ndarray]) -> ModelConfig:
    """ModelConfig from flax leaf paths and shapes, by way of the torch shapes they stand for."""
    shapes = {}
    for path, value in flat.items():
        key = _torch_key_guess(path, value.shape)
        if key is not None:
            shapes.update(key)
    return infer_config(shapes)


def _torch_key_guess(path, shape) -> dict | None:
    """The torch keys and shapes that infer_config reads, for one flax leaf."""
    p = "/".join(path)
    if p == "params/embedding/embedding":
        return {"embedding.embedding.weight": shape}
    if p.startswith("params/dnn/dense_") and p.endswith("/kernel"):
        i = int(path[2].split("_")[1])
        return {f"dnn.mlp.{DNN_STRIDE * i}.weight": shape[::-1]}
    if p == "params/linear/kernel":
        return {"linear.weight": shape[::-1]}
    if p.startswith("params/cross_net/gate/"):
        return {f"cross_net.gate.{'weight' if path[3] == 'kernel' else 'bias'}": shape[::-1]}
    if p.startswith("params/cross_net/layers_"):
        t = f"cross_net.cell_list.{int(path[2].split('_')[1])}"
        if path[3] in ("u", "b", "c"):
            return {f"{t}.cross_cell.{e}.{path[3]}": shape[1:] for e in range(shape[0])}
        if path[3] == "kernel":
            return {f"{t}.w": shape}
        if path[3] == "gate":
            return {f"{t}.gate.{'weight' if path[4] == 'kernel' else 'bias'}": shape[::-1]}
    return None


def _flatten(tree, prefix=()):
    if isinstance(tree, dict) or hasattr(tree, "items"):
        for k, v in tree.items():
            yield from _flatten(v, prefix + (str(k),))
    else:
        yield prefix, tree


def _nest(flat: dict[tuple, np.ndarray]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out
