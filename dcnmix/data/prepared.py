"""Prepared folders (dcnmix.data.prepare): opened as memory-mapped Datasets, and the cache
that lets `--dataset criteo:PATH` (and csv, parquet) go through `prepare` once.

    train, valid, test = open_prepared("prepared/criteo")       # np.memmap-backed
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np

from . import shards
from .dataset import Dataset
from .errors import DataError
from .featuremap import FeatureMap
from ..files import cache_root, check_regular, file_sha256
from .prepare import SPLITS, prepare, report


def check_prepared(folder) -> FeatureMap:
    """The feature map of a prepared folder whose arrays match the sizes and sha256s it
    records (a sharded folder: its manifest, dcnmix.data.shards; folders written before the
    checksums: the shapes only, on open); a DataError names the first file missing,
    truncated or altered."""
    folder = os.fspath(folder)
    fmap = load_feature_map(folder)
    manifest = shards.load_manifest(folder)
    if manifest is not None:
        shards.check(folder, manifest, fmap.info.get("rows", {}))
        return fmap
    recorded = fmap.info.get("files")
    if not isinstance(recorded, (dict, type(None))):
        raise DataError(os.path.join(folder, "feature_map.json"), None,
                        "its 'files' record is not a mapping")
    for name, want in sorted((recorded or {}).items()):
        target = os.path.join(folder, os.path.basename(str(name)))
        try:
            size = check_regular(target)
        except (OSError, ValueError) as exc:
            raise DataError(target, None, f"cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        if not isinstance(want, dict) or size != want.get("bytes"):
            raise DataError(target, None, f"{size:,} bytes, the feature map records "
                                          f"{want.get('bytes') if isinstance(want, dict) else want!r} "
                                          "(truncated or replaced)")
        if file_sha256(target) != want.get("sha256"):
            raise DataError(target, None, "contents do not match the sha256 in feature_map.json "
                                          "(altered, or another folder's file)")
    return fmap


def load_feature_map(folder) -> FeatureMap:
    """The feature map of a prepared folder (a DataError when there is none)."""
    path = os.path.join(os.fspath(folder), "feature_map.json")
    if not os.path.lexists(path):
        raise DataError(path, None, "no such file: not a prepared folder (run `dcnmix prepare`)")
    return FeatureMap.load(path)


def open_prepared(folder) -> tuple[Dataset, Dataset, Dataset]:
    """(train, valid, test) of a prepared folder; ids and labels are read-only memory maps,
    checked against the feature map (shape, row counts, and the sha256 of every array,
    check_prepared). A sharded folder (dcnmix.data.shards): train a ShardStream
    (dcnmix.data.streaming, each shard hashed and checked when first read), valid and test
    Datasets of their shards concatenated."""
    folder = os.fspath(folder)
    manifest = shards.load_manifest(folder)
    if manifest is not None:
        return _open_sharded(folder, manifest)
    fmap = check_prepared(folder)
    rows, schema = fmap.info.get("rows", {}), _schema(fmap)
    out = []
    for split in SPLITS:
        n = rows.get(split)
        shapes = {"ids": (n, len(schema["field_names"])), "labels": (n,)}
        if fmap.dense_names:
            shapes["dense"] = (n, len(fmap.dense_names))
        if fmap.multi_names:
            shapes["multi"] = (n, len(fmap.multi_names), fmap.max_len)
        arrays = {}
        for name, shape in shapes.items():
            path = os.path.join(folder, f"{split}.{name}.npy")
            arrays[name] = _array(path)
            if arrays[name].shape != shape:
                raise DataError(path, None, f"shape {arrays[name].shape} does not match the "
                                            f"feature map's {shape}")
        out.append(Dataset(arrays["ids"], arrays["labels"], dense=arrays.get("dense"),
                           multi=arrays.get("multi"), **schema))
    return tuple(out)


def _schema(fmap: FeatureMap) -> dict:
    """The Dataset fields a prepared folder's feature map gives every split."""
    return {"field_names": fmap.id_names if fmap.given_feat_dim is None else fmap.field_names,
            "cardinalities": fmap.cardinalities, "feat_dim": fmap.feat_dim, "vocab": fmap,
            "dense_names": fmap.dense_names, "multi_names": fmap.multi_names}


def _open_sharded(folder: str, manifest: dict) -> tuple:
    """A sharded folder's splits: every shard's size checked now (its sha256 when read), the
    shards' rows against the feature map's; train streamed, valid and test in memory."""
    from .streaming import ShardStream
    fmap = load_feature_map(folder)
    rows, schema = fmap.info.get("rows", {}), _schema(fmap)
    shards.check(folder, manifest, rows, sha256=False)
    train = ShardStream(shards.split_shards(folder, "train"), **schema)
    held = []
    for split in ("valid", "test"):
        arrays = shards.split_shards(folder, split).concat()
        try:
            held.append(Dataset(arrays["ids"], arrays["labels"], dense=arrays.get("dense"),
                                multi=arrays.get("multi"), **schema))
        except ValueError as exc:
            raise DataError(os.path.join(folder, f"{split}-*.npy"), None, str(exc)) from None
    return (train, *held)


def _array(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(path, None, f"cannot read ({exc})") from None


def cache_folder(opt) -> str:
    """Where `--dataset KIND:PATH` keeps its prepared data: the user's cache folder
    (dcnmix.files.cache_root: $DCNMIX_CACHE, default ~/.cache/dcnmix)/prepared/<key>, the key
    a hash of the options and of each input file's path, size, modification and change times
    and inode (a changed file is prepared again: `touch -d` can set the modification time
    back, not the change time)."""
    stamp = []
    for path in opt.paths:
        st = os.stat(path)
        stamp.append([os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                      st.st_ino, st.st_dev])
    key = json.dumps([dataclasses.asdict(opt), stamp], sort_keys=True, default=str)
    return os.path.join(cache_root(), "prepared", hashlib.sha256(key.encode()).hexdigest()[:20])


def prepared_splits(opt, log=print) -> tuple[Dataset, Dataset, Dataset]:
    """The splits of `opt` through the prepare cache: prepared the first time, reused after."""
    folder = cache_folder(opt)
    if os.path.isfile(os.path.join(folder, "feature_map.json")):
        log(f"prepared data: reusing {folder}")
    else:
        log(f"preparing {', '.join(opt.paths)} into {folder} (once; reused while the file is unchanged)")
        fmap = prepare(opt, folder, command=f"dcnmix train --dataset {opt.kind}:{opt.paths[0]}")
        log(report(fmap))
    return open_prepared(folder)
