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

from .dataset import Dataset
from .errors import DataError
from .featuremap import FeatureMap, Field

SPLITS = ("train", "valid", "test")


def open_prepared(folder) -> tuple[Dataset, Dataset, Dataset]:
    """(train, valid, test) of a prepared folder; ids and labels are read-only memory maps,
    checked against the feature map (shape, row counts)."""
    folder = os.fspath(folder)
    path = os.path.join(folder, "feature_map.json")
    if not os.path.isfile(path):
        raise DataError(path, None, "no such file: not a prepared folder (run `dcnmix prepare`)")
    fmap = FeatureMap.load(path)
    rows = fmap.info.get("rows", {})
    out = []
    for split in SPLITS:
        ids = _array(os.path.join(folder, f"{split}.ids.npy"))
        labels = _array(os.path.join(folder, f"{split}.labels.npy"))
        if ids.ndim != 2 or ids.shape != (rows.get(split), len(fmap.fields)) or \
                labels.shape != (ids.shape[0],):
            raise DataError(os.path.join(folder, f"{split}.ids.npy"), None,
                            f"shape {ids.shape} / labels {labels.shape} do not match the feature "
                            f"map ({rows.get(split)} rows, {len(fmap.fields)} fields)")
        out.append(Dataset(ids, labels, fmap.field_names, fmap.cardinalities, fmap.feat_dim,
                           vocab=fmap))
    return tuple(out)


def _array(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DataError(path, None, f"cannot read ({exc})") from None


def prepare_libfm(opt, out: str, *, command=None, log=None) -> FeatureMap:
    """libfm / Frappe: ids are given; prepare stores them with a feature map of kind
    'given' (feat_dim = max id + 1 over the files). Frappe's folder holds its three files."""
    import sys
    from .libfm import FRAPPE_FIELDS, FRAPPE_FILES, load_libfm_splits
    from .prepare import _finish, _fresh, hashed_split
    paths = opt.paths
    if opt.kind == "frappe":
        paths = tuple(os.path.join(paths[0], name) for name in FRAPPE_FILES)
    names = FRAPPE_FIELDS if opt.kind == "frappe" else None
    parts = load_libfm_splits(paths, field_names=names)
    if len(parts) == 1:
        whole = parts[0]
        split = hashed_split(opt.split_seed, 0, len(whole), opt.fractions)
        parts = tuple(whole.take(np.flatnonzero(split == s)) for s in range(3))
    tmp = _fresh(out)
    for split, part in zip(SPLITS, parts):
        np.save(os.path.join(tmp, f"{split}.ids.npy"), part.ids)
        np.save(os.path.join(tmp, f"{split}.labels.npy"), part.labels)
    fields = tuple(Field(n, "given") for n in parts[0].field_names)
    info = {"rows": {s: len(p) for s, p in zip(SPLITS, parts)}, "kind": opt.kind,
            "split": opt.split_rule() if opt.kind != "frappe" else {"how": "files"},
            "sources": [{"path": os.path.abspath(p), "size": os.path.getsize(p)} for p in paths],
            "cardinalities": list(parts[0].cardinalities), "command": command or " ".join(sys.argv)}
    return _finish(tmp, out, FeatureMap(fields, 1, opt.label, parts[0].feat_dim, info))


def cache_folder(opt) -> str:
    """Where `--dataset KIND:PATH` keeps its prepared data: $DCNMIX_CACHE (default
    ~/.cache/dcnmix)/prepared/<key>, the key a hash of the options and of each input file's
    path, size and modification time (a changed file is prepared again)."""
    stamp = []
    for path in opt.paths:
        st = os.stat(path)
        stamp.append([os.path.abspath(path), st.st_size, st.st_mtime_ns])
    key = json.dumps([dataclasses.asdict(opt), stamp], sort_keys=True, default=str)
    root = os.environ.get("DCNMIX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dcnmix")
    return os.path.join(root, "prepared", hashlib.sha256(key.encode()).hexdigest()[:20])


def prepared_splits(opt, log=print) -> tuple[Dataset, Dataset, Dataset]:
    """The splits of `opt` through the prepare cache: prepared the first time, reused after."""
    from .prepare import prepare, report
    folder = cache_folder(opt)
    if os.path.isfile(os.path.join(folder, "feature_map.json")):
        log(f"prepared data: reusing {folder}")
    else:
        log(f"preparing {', '.join(opt.paths)} into {folder} (once; reused while the file is unchanged)")
        fmap = prepare(opt, folder, command=f"dcnmix train --dataset {opt.kind}:{opt.paths[0]}")
        log(report(fmap))
    return open_prepared(folder)
