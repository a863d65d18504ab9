"""The correspondence between dcnmix_torch state_dict keys and dcnmix_jax variable paths,
for every model: one converter driven by each model's declared layout (dcnmix.models).

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
from .models import spec
from .models.dcn import cross_layout
from .models.entries import DNN_STRIDE, Entry


class LayoutError(ValueError):
    """A state_dict or variables tree that does not fit the model's layout."""


def layout(cfg: ModelConfig) -> list[Entry]:
    """Every tensor of the model with this configuration, in the torch state_dict's order
    (the model's declared layout, dcnmix.models)."""
    return spec(cfg.model).layout(cfg)


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
    variant = _infer_variant(shapes, options) if cross == "mix" else {}
    shape = dict(field_num=m_dim // emb_num, feat_dim=feat_dim, emb_num=emb_num,
                 order_num=len(layers), r=r, k=k, dropout=dropout, method=method,
                 hidden_nums=tuple(hidden), cross=cross)
    return ModelConfig.create(**{**shape, **options, **variant})


def _infer_variant(shapes: dict, options: dict) -> dict:
    """The variant options a DCN-Mix state_dict's keys show (gate placement and bias, expert
    biases, C matrices); a constant gate leaves no gate weights."""
    gate_key = ("cross_net.gate" if "cross_net.gate.weight" in shapes
                else "cross_net.cell_list.0.gate")
    variant = dict(shared_gates=gate_key == "cross_net.gate",
                   gate_bias=f"{gate_key}.bias" in shapes,
                   expert_bias="cross_net.cell_list.0.cross_cell.0.b" in shapes,
                   c_matrix="cross_net.cell_list.0.cross_cell.0.c" in shapes)
    if f"{gate_key}.weight" not in shapes:  # the gate's other options then say nothing
        variant = {k: v for k, v in variant.items() if k not in ("shared_gates", "gate_bias")}
        variant["gate"] = "constant"
    elif options.get("gate") == "constant":
        raise LayoutError(f"gate='constant' given, but the weights hold a gate ({gate_key}.weight)")
    return variant


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
