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
from .featuremap import FeatureMap
from .prepare import SPLITS, prepare, report


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
    folder = cache_folder(opt)
    if os.path.isfile(os.path.join(folder, "feature_map.json")):
        log(f"prepared data: reusing {folder}")
    else:
        log(f"preparing {', '.join(opt.paths)} into {folder} (once; reused while the file is unchanged)")
        fmap = prepare(opt, folder, command=f"dcnmix train --dataset {opt.kind}:{opt.paths[0]}")
        log(report(fmap))
    return open_prepared(folder)
