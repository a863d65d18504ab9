"""The weights file both frameworks write and read: safetensors, no pickle.

Tensors are keyed by the torch state_dict names (the seed's), in torch's orientation
(dcnmix.layout maps them to Flax paths). The metadata holds the format ("dcnmix-weights"),
its version (3), the model's name, the ModelConfig as JSON and a sha256 over the tensors
*and* the other metadata, so a truncated, bit-flipped or mismatched file, config included,
is refused with the file's name. Files written before (format "dcnmix-dcn", versions 1 and
2, the first hashing the tensors only) still load. numpy + safetensors only.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from .config import ModelConfig
from .files import STATE_LIMIT, PathError, check_regular, write_bytes

FORMAT = "dcnmix-weights"
VERSION = "3"
# (format, version) pairs this dcnmix reads: "dcnmix-dcn" was written for every model before
# the format named its model (version 3 adds metadata "model"); version 1 hashed the tensors only
READS = {("dcnmix-dcn", "1"), ("dcnmix-dcn", "2"), (FORMAT, VERSION)}


class WeightsError(ValueError):
    """A weights file that cannot be used; the message names the file and the problem."""


def digest(arrays: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> str:
    """sha256 of the tensors (name, dtype, shape, bytes) and, from version 2, the metadata."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.asarray(arrays[key], order="C")
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    if meta is not None:
        h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"},
                            sort_keys=True).encode())
    return h.hexdigest()


# a temporary file beside `path`, fsync, rename over it (dcnmix.files: never through a link;
# the mode a plain open() would give; a failed write leaves nothing and names `path`)
atomic_write_bytes = write_bytes


def write_json(path, obj) -> None:
    """Pretty JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save(path, arrays: dict[str, np.ndarray], config: ModelConfig, extra: dict | None = None) -> None:
    """Write torch-keyed numpy arrays and the config to `path`, atomically."""
    from safetensors.numpy import save as save_bytes
    arrays = {k: np.asarray(v, order="C") for k, v in arrays.items()}
    meta = {"format": FORMAT, "version": VERSION, "model": config.model, "config": config.to_json()}
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    meta["sha256"] = digest(arrays, meta)
    atomic_write_bytes(path, save_bytes(arrays, metadata=meta))


def load(path) -> tuple[dict[str, np.ndarray], ModelConfig, dict]:
    """(torch-keyed numpy arrays, ModelConfig, metadata) from a file written by `save`."""
    from safetensors import safe_open
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise WeightsError(f"{path}: no such file")
    try:
        check_regular(path, limit=STATE_LIMIT)
    except (OSError, PathError) as exc:
        raise WeightsError(str(exc) if isinstance(exc, PathError)
                           else f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        with safe_open(path, framework="numpy") as fh:
            meta = dict(fh.metadata() or {})
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises several types for corrupt headers/data
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    found = (meta.get("format"), meta.get("version"))
    if found not in READS:
        raise WeightsError(f"{path}: metadata format {found[0]!r} version {found[1]!r} is not one "
                           f"this dcnmix reads ({', '.join(f'{f} {v}' for f, v in sorted(READS))})")
    if digest(arrays, meta if found[1] != "1" else None) != meta.get("sha256"):
        raise WeightsError(f"{path}: contents do not match their sha256 (corrupt file)")
    try:
        config = ModelConfig.from_json(meta["config"])
    except Exception as exc:
        raise WeightsError(f"{path}: bad model config in metadata ({exc})") from None
    if "model" in meta and meta["model"] != config.model:
        raise WeightsError(f"{path}: metadata names model {meta['model']!r}, its config {config.model!r}")
    return arrays, config, meta
