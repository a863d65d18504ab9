"""The peers' DCN-Mix cross networks -> this project's CrossNet, in both frameworks.

    imported = from_deepctr(deepctr_model.state_dict())     # CrossNetMix, or DCNMix ('crossnet.')
    imported = from_torchrec(lowrank_mixture_crossnet.state_dict())
    net = imported.torch_module()                  # dcnmix_torch.CrossNet, weights loaded (strict)
    module, variables = imported.flax_module()     # dcnmix_jax.CrossNet and its variables

Layouts read (numpy only; the peers' packages are not imported):
  DeepCTR-Torch CrossNetMix: U_list, V_list [L, K, M, r], C_list [L, K, r, r], bias [L, M, 1],
      gating.{i}.weight [1, M] (K bias-free gates shared by the layers)      -> preset 'deepctr'
  torchrec LowRankMixtureCrossNet: U_kernels.{l} [K, M, r], V_kernels.{l} [K, r, M],
      C_kernels.{l} [K, r, r], bias.{l} [M, 1], gates.{i}.weight [1, M] (none when K = 1)
                                                                             -> preset 'torchrec'
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from dcnmix.config import PRESETS, ModelConfig
from dcnmix.layout import LayoutError, _numpy, cross_layout, entries_to_flax


@dataclasses.dataclass(frozen=True)
class ImportedCross:
    """A cross network in this project's layout: its options and its dcnmix_torch.CrossNet
    state_dict (numpy). `config` describes it as a ModelConfig whose input_num is the
    cross width M (its embedding and DNN fields are placeholders)."""

    config: ModelConfig
    arrays: dict

    def crossnet_kwargs(self) -> dict:
        """Constructor arguments shared by dcnmix_torch.CrossNet and dcnmix_jax.CrossNet."""
        c = self.config
        return dict(order_num=c.order_num, r=c.r, k=c.k, cross=c.cross, variant=c.variant)

    def torch_module(self):
        import torch
        from dcnmix_torch.model import CrossNet
        net = CrossNet(input_num=self.config.input_num, **self.crossnet_kwargs())
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.arrays.items()},
                            strict=True)
        return net

    def flax_module(self):
        from dcnmix_jax.cross import CrossNet
        variables = entries_to_flax(self.arrays, cross_layout(self.config, "", ("params",)),
                                    self.config)
        return CrossNet(**self.crossnet_kwargs()), variables


def _prefix(keys, marker: str, library: str) -> str:
    found = sorted({k[:-len(marker)] for k in keys if k.endswith(marker)})
    if len(found) != 1:
        raise LayoutError(f"expected one {library} cross network (a key ending in {marker!r}), "
                          f"found {len(found)}: {found}")
    return found[0]


def _config(m: int, order: int, r: int, k: int, preset: str, **options) -> ModelConfig:
    return ModelConfig.preset(preset, **{**dict(field_num=1, feat_dim=1, emb_num=m,
                                                order_num=order, r=r, k=k), **options})


def _take(arrays: dict, prefix: str, name: str, shape: tuple) -> np.ndarray:
    key = prefix + name
    if key not in arrays:
        raise LayoutError(f"missing key {key!r}")
    value = arrays.pop(key)
    if value.shape != shape:
        raise LayoutError(f"{key}: shape {value.shape}, expected {shape}")
    return value


def _gates(arrays: dict, prefix: str, name: str, k: int, m: int) -> np.ndarray:
    return np.concatenate([_take(arrays, prefix, f"{name}.{i}.weight", (1, m)) for i in range(k)])


def _leftover(arrays: dict, prefix: str, library: str) -> None:
    left = sorted(k for k in arrays if k.startswith(prefix))
    if left:
        raise LayoutError(f"{library}: unexpected keys {left}")


def from_deepctr(state_dict, prefix: str | None = None, **options) -> ImportedCross:
    """DeepCTR-Torch's CrossNetMix (or the `crossnet.` part of its DCNMix model).
    `options` override the preset (e.g. activation, if the class was edited)."""
    arrays = {k: _numpy(v) for k, v in state_dict.items()}
    prefix = _prefix(arrays, "U_list", "DeepCTR-Torch") if prefix is None else prefix
    if np.ndim(arrays.get(prefix + "U_list")) != 4:
        raise LayoutError(f"{prefix}U_list: expected a [layers, experts, M, r] tensor")
    layers, k, m, r = arrays[prefix + "U_list"].shape
    u = _take(arrays, prefix, "U_list", (layers, k, m, r))
    v = _take(arrays, prefix, "V_list", (layers, k, m, r))
    c = _take(arrays, prefix, "C_list", (layers, k, r, r))
    bias = _take(arrays, prefix, "bias", (layers, m, 1))
    gate = _gates(arrays, prefix, "gating", k, m)
    _leftover(arrays, prefix, "DeepCTR-Torch CrossNetMix")
    cfg = _config(m, layers, r, k, "deepctr", **options)
    out = {}
    for layer in range(layers):
        out[f"cell_list.{layer}.bias"] = bias[layer]
        for e in range(k):
            t = f"cell_list.{layer}.cross_cell.{e}"
            out.update({f"{t}.v": v[layer, e], f"{t}.u": u[layer, e], f"{t}.c": c[layer, e]})
    out["gate.weight"] = gate
    return ImportedCross(cfg, _ordered(out, cfg))


def from_torchrec(state_dict, prefix: str | None = None, **options) -> ImportedCross:
    """torchrec's LowRankMixtureCrossNet. `options` override the preset, e.g.
    activation='tanh' if the module was built with another activation than relu."""
    arrays = {k: _numpy(v) for k, v in state_dict.items()}
    prefix = _prefix(arrays, "U_kernels.0", "torchrec") if prefix is None else prefix
    layers = len({g.group(1) for key in arrays
                  if (g := re.fullmatch(re.escape(prefix) + r"U_kernels\.(\d+)", key))})
    k, m, r = arrays[prefix + "U_kernels.0"].shape
    out = {}
    for layer in range(layers):
        u = _take(arrays, prefix, f"U_kernels.{layer}", (k, m, r))
        v = _take(arrays, prefix, f"V_kernels.{layer}", (k, r, m))
        c = _take(arrays, prefix, f"C_kernels.{layer}", (k, r, r))
        out[f"cell_list.{layer}.bias"] = _take(arrays, prefix, f"bias.{layer}", (m, 1))
        for e in range(k):
            t = f"cell_list.{layer}.cross_cell.{e}"
            out.update({f"{t}.v": v[e].T, f"{t}.u": u[e], f"{t}.c": c[e]})
    if k > 1:
        out["gate.weight"] = _gates(arrays, prefix, "gates", k, m)
    else:  # torchrec skips the gate for one expert: a constant weight of 1
        options = {"gate": "constant", **options}
    _leftover(arrays, prefix, "torchrec LowRankMixtureCrossNet")
    cfg = _config(m, layers, r, k, "torchrec", **options)
    return ImportedCross(cfg, _ordered(out, cfg))


def _ordered(arrays: dict, cfg: ModelConfig) -> dict:
    """Arrays in dcnmix_torch.CrossNet's state_dict order, contiguous (checked against the layout)."""
    entries = cross_layout(cfg, "", ("params",))
    missing = [e.torch_key for e in entries if e.torch_key not in arrays]
    if missing or len(entries) != len(arrays):
        raise LayoutError(f"imported weights do not fit {cfg}: missing {missing}")
    return {e.torch_key: np.ascontiguousarray(arrays[e.torch_key]) for e in entries}


__all__ = ["ImportedCross", "PRESETS", "from_deepctr", "from_torchrec"]
