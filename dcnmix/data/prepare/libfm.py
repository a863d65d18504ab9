"""libfm / Frappe into a prepared folder: the ids are given, so nothing is counted; the
feature map's fields are of kind 'given' (feat_dim = max id + 1 over the files). The files
are read by the reference line loader, dcnmix.data.libfm."""
from __future__ import annotations

import os
import sys

import numpy as np

from ..featuremap import FeatureMap, Field
from ..libfm import FRAPPE_FIELDS, FRAPPE_FILES, load_libfm_splits
from .options import SPLITS, PrepareOptions
from .output import Output
from .splits import hashed_split


def prepare_libfm(opt: PrepareOptions, output: Output, *, command) -> FeatureMap:
    paths = opt.paths
    if opt.kind == "frappe":
        paths = tuple(os.path.join(paths[0], name) for name in FRAPPE_FILES)
    names = FRAPPE_FIELDS if opt.kind == "frappe" else None
    parts = load_libfm_splits(paths, field_names=names)
    if len(parts) == 1:
        whole = parts[0]
        split = hashed_split(opt.split_seed, 0, len(whole), opt.fractions)
        parts = tuple(whole.take(np.flatnonzero(split == s)) for s in range(3))
    tmp = output.fresh()
    for split, part in zip(SPLITS, parts):
        np.save(os.path.join(tmp, f"{split}.ids.npy"), part.ids)
        np.save(os.path.join(tmp, f"{split}.labels.npy"), part.labels)
    fields = tuple(Field(n, "given") for n in parts[0].field_names)
    info = {"rows": {s: len(p) for s, p in zip(SPLITS, parts)}, "kind": opt.kind,
            "split": opt.split_rule() if opt.kind != "frappe" else {"how": "files"},
            "sources": [{"path": os.path.abspath(p), "size": os.path.getsize(p)} for p in paths],
            "cardinalities": list(parts[0].cardinalities), "command": command or " ".join(sys.argv)}
    return output.finish(tmp, FeatureMap(fields, 1, opt.label, parts[0].feat_dim, info))
