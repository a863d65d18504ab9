"""Weights both ways: torch state_dict <-> flax variables {'params', 'batch_stats'}.

Conversions are exact copies (transposes and reshapes only), so round trips are bit-exact.
The configuration is inferred from key names and shapes; a missing, unexpected or
mis-shaped tensor raises LayoutError naming the key and both shapes. Works on numpy
arrays; torch and jax are only imported where their types are asked for.
"""
from __future__ import annotations

import numpy as np

from dcnmix_jax.config import ModelConfig

from .layout import Entry, LayoutError, flax_shape, infer_config, layout


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


def torch_to_flax(state_dict, config: ModelConfig | None = None) -> dict:
    """Flax variables {'params', 'batch_stats'} (numpy leaves) for dcnmix_jax.DCN(**cfg).apply."""
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


def flax_to_torch(variables, config: ModelConfig | None = None) -> dict:
    """torch state_dict (torch tensors) for dcnmix_torch.DCN(**cfg).load_state_dict(strict=True)."""
    import torch
    return {k: torch.from_numpy(v) for k, v in flax_to_arrays(variables, config).items()}


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
        return {f"dnn.mlp.{4 * i}.weight": shape[::-1]}
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


__all__ = ["LayoutError", "flax_to_arrays", "flax_to_torch", "infer_config", "torch_to_flax"]
