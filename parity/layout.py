"""The correspondence between dcnmix_torch state_dict keys and dcnmix_jax variable paths.

Every torch tensor maps to one flax leaf (or one expert's slice of a stacked leaf) by one
transform. Inferring the ModelConfig from a state_dict's names and shapes lives here too.
Framework-free: numpy only.
"""
from __future__ import annotations

import dataclasses
import re

from dcnmix_jax.config import ModelConfig


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


def layout(cfg: ModelConfig) -> list[Entry]:
    """Every tensor of a DCN with this configuration, in the torch state_dict's order."""
    m = cfg.input_num
    out = [Entry("embedding.embedding.weight", ("params", "embedding", "embedding"),
                 (cfg.feat_dim, cfg.emb_num))]
    width = m
    for i, h in enumerate(cfg.hidden_nums):
        out += _dense(f"dnn.mlp.{4 * i}", ("params", "dnn", f"dense_{i}"), width, h)
        bn, p, s = f"dnn.mlp.{4 * i + 1}", ("params", "dnn", f"bn_{i}"), ("batch_stats", "dnn", f"bn_{i}")
        out += [Entry(f"{bn}.weight", p + ("scale",), (h,)), Entry(f"{bn}.bias", p + ("bias",), (h,)),
                Entry(f"{bn}.running_mean", s + ("mean",), (h,)),
                Entry(f"{bn}.running_var", s + ("var",), (h,)),
                Entry(f"{bn}.num_batches_tracked", s + ("count",), ())]
        width = h
    out += cross_layout(cfg)
    linear_in = cfg.hidden_nums[-1] + (m if cfg.method == "parallel" else 0)
    out += _dense("linear", ("params", "linear"), linear_in, 1)
    return out


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
        if not cfg.expert_bias:
            out.append(Entry(f"{t}.bias", p + ("bias",), (m, 1), "column"))
        for e in range(cfg.k):
            c = f"{t}.cross_cell.{e}"
            out += [Entry(f"{c}.v", p + ("v",), (m, cfg.r), expert=e),
                    Entry(f"{c}.u", p + ("u",), (m, cfg.r), expert=e)]
            if cfg.expert_bias:
                out.append(Entry(f"{c}.b", p + ("b",), (m, 1), "column", expert=e))
            if cfg.c_matrix:
                out.append(Entry(f"{c}.c", p + ("c",), (cfg.r, cfg.r), expert=e))
        if cfg.gate != "constant" and not cfg.shared_gates:
            out += _dense(f"{t}.gate", p + ("gate",), m, cfg.k, cfg.gate_bias)
    if cfg.cross == "mix" and cfg.gate != "constant" and cfg.shared_gates:
        out += _dense(f"{torch_prefix}gate", path + ("gate",), m, cfg.k, cfg.gate_bias)
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
    while f"dnn.mlp.{4 * len(hidden)}.weight" in shapes:
        hidden.append(_shape(shapes, f"dnn.mlp.{4 * len(hidden)}.weight")[0])
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
    return ModelConfig(**{**dict(field_num=m_dim // emb_num, feat_dim=feat_dim, emb_num=emb_num,
                                 order_num=len(layers), r=r, k=k, dropout=dropout, method=method,
                                 hidden_nums=tuple(hidden), cross=cross), **options, **variant})
