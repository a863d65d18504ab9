"""The one weights file both frameworks write and read: safetensors, no pickle.

Tensors are keyed by the torch state_dict names (the seed's), in torch's orientation; the
metadata holds the ModelConfig as JSON and a sha256 of the tensor bytes, so a truncated,
bit-flipped or mismatched file is refused with what and where. numpy + safetensors only.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from dcnmix_jax.config import ModelConfig

FORMAT = "dcnmix-dcn"
VERSION = "1"


class CheckpointError(ValueError):
    """A weights file that cannot be used; the message names the file and the problem."""


def digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.asarray(arrays[key], order="C")
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save(path, arrays: dict[str, np.ndarray], config: ModelConfig, extra: dict | None = None) -> None:
    """Write torch-keyed numpy arrays and the config to `path`, atomically."""
    from safetensors.numpy import save
    arrays = {k: np.asarray(v, order="C") for k, v in arrays.items()}
    meta = {"format": FORMAT, "version": VERSION, "config": config.to_json(),
            "sha256": digest(arrays)}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    atomic_write_bytes(path, save(arrays, metadata=meta))


def load(path) -> tuple[dict[str, np.ndarray], ModelConfig, dict]:
    """(torch-keyed numpy arrays, ModelConfig, metadata) from a file written by `save`."""
    from safetensors import safe_open
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(path, framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises several types for corrupt headers/data
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: metadata format is {meta.get('format')!r}, "
                              f"expected {FORMAT!r}")
    try:
        config = ModelConfig(**json.loads(meta["config"]))
    except Exception as exc:
        raise CheckpointError(f"{path}: bad model config in metadata ({exc})") from None
    if digest(arrays) != meta.get("sha256"):
        raise CheckpointError(f"{path}: tensor data does not match its sha256 (corrupt file)")
    return arrays, config, meta
