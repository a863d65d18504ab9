"""Weights both ways with the frameworks' own types: torch state_dict <-> flax variables.

    variables = torch_to_flax(model.state_dict())       # for dcnmix_jax.DCN(**cfg.kwargs()).apply
    state_dict = flax_to_torch(variables)                # for dcnmix_torch.DCN.load_state_dict

The table and the numpy conversion live in dcnmix.layout (framework-free); this module adds
torch tensors on the way out. The configuration is inferred from key names and shapes
unless given; a missing, unexpected or mis-shaped tensor raises LayoutError naming the key.
"""
from __future__ import annotations

from dcnmix.config import ModelConfig
from dcnmix.layout import LayoutError, arrays_to_flax, flax_to_arrays, infer_config


def torch_to_flax(state_dict, config: ModelConfig | None = None) -> dict:
    """Flax variables {'params', 'batch_stats'} (numpy leaves) from a torch state_dict."""
    return arrays_to_flax(state_dict, config)


def flax_to_torch(variables, config: ModelConfig | None = None) -> dict:
    """torch state_dict (torch tensors) for dcnmix_torch.DCN(**cfg).load_state_dict(strict=True)."""
    import torch
    return {k: torch.from_numpy(v) for k, v in flax_to_arrays(variables, config).items()}


__all__ = ["LayoutError", "flax_to_arrays", "flax_to_torch", "infer_config", "torch_to_flax"]


# ---------------------------------------------------------------- the baselines (by module type)
def module_to_flax(module, tensors: dict | None = None) -> dict:
    """Flax variables (numpy leaves) of a dcnmix_torch.baselines model, by its module types:
    torch key 'a.b.weight' of a Linear -> params/a/b/kernel (transposed), of an Embedding ->
    params/a/b/embedding, of a BatchNorm1d -> params/a/b/scale; running_mean / running_var /
    num_batches_tracked -> batch_stats/a/b/mean / var / count; a bare parameter -> params/name.
    tensors: other tensors under the module's keys (e.g. its gradients), default its state."""
    out: dict = {"params": {}, "batch_stats": {}}
    for key, value in (module.state_dict() if tensors is None else tensors).items():
        collection, path, array = _flax_entry(module, key, value.detach().cpu().numpy().copy())
        node = out[collection]
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = array
    if not out["batch_stats"]:
        del out["batch_stats"]
    return out


def flax_to_module(variables, module) -> dict:
    """The torch state_dict for `module` (a baselines model) from Flax variables."""
    import numpy as np
    import torch
    state = {}
    for key, value in module.state_dict().items():
        collection, path, _ = _flax_entry(module, key, value.detach().cpu().numpy())
        node = variables[collection]
        for part in path:
            node = node[part]
        array = np.asarray(node)
        state[key] = torch.from_numpy(np.array(array.T if _is_linear_weight(module, key) else array))
    return state


def _is_linear_weight(module, key: str) -> bool:
    import torch.nn as nn
    owner, _, leaf = key.rpartition(".")
    return leaf == "weight" and isinstance(module.get_submodule(owner), nn.Linear)


def _flax_entry(module, key: str, array):
    import torch.nn as nn
    owner, _, leaf = key.rpartition(".")
    path = tuple(owner.split(".")) if owner else ()
    stats = {"running_mean": "mean", "running_var": "var", "num_batches_tracked": "count"}
    if leaf in stats:
        return "batch_stats", path + (stats[leaf],), array.astype("int32") if leaf == "num_batches_tracked" else array
    kind = type(module.get_submodule(owner)) if owner else None
    if kind is nn.Linear:
        return "params", path + ({"weight": "kernel", "bias": "bias"}[leaf],), array.T if leaf == "weight" else array
    if kind is nn.Embedding:
        return "params", path + ("embedding",), array
    if kind is nn.BatchNorm1d:
        return "params", path + ({"weight": "scale", "bias": "bias"}[leaf],), array
    return "params", path + (leaf,), array
