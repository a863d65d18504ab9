"""Weights files: the shared safetensors layout, Flax msgpack and torch .pt, loaded and converted.

    save_from_jax(path, variables, config) / load_for_jax(path) -> (variables, config)
    save_from_torch(path, state_dict, config) / load_for_torch(path) -> (state_dict, config)

`.safetensors` is the shared layout (dcnmix.weights); `.msgpack` is flax.serialization of
{'config', 'variables'}; `.pt`/`.pth` is a torch state_dict, read with weights_only=True.
"""
from __future__ import annotations

import os

import numpy as np

from dcnmix import weights
from dcnmix.config import ModelConfig
from dcnmix.layout import LayoutError, flax_to_arrays, infer_config

from .convert import torch_to_flax


class ConvertError(ValueError):
    """A file that cannot be read or written as asked."""


def _kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    kinds = {".safetensors": "safetensors", ".msgpack": "msgpack", ".pt": "pt", ".pth": "pt"}
    if ext not in kinds:
        raise ConvertError(f"{path}: unknown extension {ext!r} (use .safetensors, .msgpack, .pt)")
    return kinds[ext]


def read_arrays(path, **options) -> tuple[dict[str, np.ndarray], ModelConfig]:
    """Torch-keyed numpy arrays and the config from any supported weights file. `options`
    (variant options, e.g. activation='tanh') describe a .pt file, which holds no config:
    its layout shows the structure, not the gate kind, g or the initialisation."""
    path = os.fspath(path)
    kind = _kind(path)
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    if kind == "safetensors":
        arrays, config, _ = weights.load(path)
        torch_to_flax(arrays, config)  # validates every key and shape against the config
        return arrays, config
    if kind == "msgpack":
        from flax import serialization
        try:
            with open(path, "rb") as fh:
                blob = serialization.msgpack_restore(fh.read())
            config = ModelConfig.from_json(blob["config"])
            variables = blob["variables"]
        except Exception as exc:
            raise ConvertError(f"{path}: not a dcnmix Flax msgpack file ({exc})") from None
        return flax_to_arrays(variables, config), config
    arrays = _torch_arrays(path)
    try:
        config = infer_config({k: v.shape for k, v in arrays.items()}, **options)
    except LayoutError as exc:
        raise ConvertError(f"{path}: {exc}") from None
    v = config.variant
    if not options and config.cross == "mix" and (v.c_matrix or not v.expert_bias or v.shared_gates):
        raise ConvertError(f"{path}: the weights are a DCN-Mix variant (c_matrix={v.c_matrix}, "
                           f"expert_bias={v.expert_bias}, shared_gates={v.shared_gates}) "
                           "and a .pt file does not say its gate or activation: name them "
                           "(--preset, or --activation / --gate / --init-scheme)")
    torch_to_flax(arrays, config)
    return arrays, config


WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net")


def _torch_arrays(path: str) -> dict[str, np.ndarray]:
    """A .pt state_dict as numpy arrays: read with weights_only=True (no pickle code runs),
    unwrapped from a training checkpoint's {'state_dict' | 'model' | ...: sd}, half
    precision widened to float32 (exact)."""
    import torch
    from dcnmix_torch.serialization import UnsafeOrCorruptFile, safe_load
    try:
        state = safe_load(path)
    except UnsafeOrCorruptFile as exc:
        raise ConvertError(f"{path}: not a readable torch state_dict ({exc})") from None
    if isinstance(state, dict) and not any(torch.is_tensor(v) for v in state.values()):
        inner = [k for k in WRAPPERS if isinstance(state.get(k), dict)]
        if not inner:
            raise ConvertError(f"{path}: holds a dict without tensors (keys {sorted(map(str, state))[:8]}); "
                               f"expected a state_dict or a checkpoint with one of {WRAPPERS}")
        state = state[inner[0]]
    if not isinstance(state, dict):
        raise ConvertError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    bad = [str(k) for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise ConvertError(f"{path}: entries that are not tensors: {bad[:5]}")
    return {k: (v.float() if v.dtype in (torch.bfloat16, torch.float16) else v).detach().cpu().numpy()
            for k, v in state.items()}


def write_arrays(path, arrays: dict[str, np.ndarray], config: ModelConfig) -> None:
    path = os.fspath(path)
    kind = _kind(path)
    if kind == "safetensors":
        weights.save(path, arrays, config)
    elif kind == "msgpack":
        from flax import serialization
        blob = {"config": config.to_json(), "variables": torch_to_flax(arrays, config)}
        weights.atomic_write_bytes(path, serialization.msgpack_serialize(blob))
    else:
        import io
        import torch
        buf = io.BytesIO()
        torch.save({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, buf)
        weights.atomic_write_bytes(path, buf.getvalue())


def save_from_jax(path, variables, config: ModelConfig) -> None:
    write_arrays(path, flax_to_arrays(variables, config), config)


def load_for_jax(path) -> tuple[dict, ModelConfig]:
    arrays, config = read_arrays(path)
    return torch_to_flax(arrays, config), config


def save_from_torch(path, state_dict, config: ModelConfig) -> None:
    write_arrays(path, {k: v.detach().cpu().numpy() for k, v in state_dict.items()}, config)


def load_for_torch(path) -> tuple[dict, ModelConfig]:
    import torch
    arrays, config = read_arrays(path)
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, config


def convert_file(src, dst, to: str, **options) -> str:
    """Convert src to dst for framework `to` ('jax': .msgpack or .safetensors; 'torch': .pt or
    .safetensors). `options`: variant options for a .pt source (see read_arrays). Returns a
    one-line summary."""
    dst_kind = _kind(os.fspath(dst))
    allowed = {"jax": ("msgpack", "safetensors"), "torch": ("pt", "safetensors")}[to]
    if dst_kind not in allowed:
        raise ConvertError(f"{dst}: --to {to} writes {' or '.join('.' + a for a in allowed)}")
    try:
        arrays, config = read_arrays(src, **options)
    except LayoutError as exc:
        raise ConvertError(f"{src}: {exc}") from None
    write_arrays(dst, arrays, config)
    return f"wrote {dst} ({len(arrays)} tensors, {config})"
