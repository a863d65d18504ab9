"""Sharded prepared folders: each split in N shards, listed by a manifest, so an engine that
runs on many machines (Spark, `dcnmix prepare --engine spark`) writes its shards in place and
each training process reads only its own. The schema (docs/data.md "Sharded folders"):

    manifest.json                 {"format": "dcnmix.shards", "version": 1, "engine": "spark",
                                   "options": {...}, "splits": {"train": [SHARD, ...], ...}}
                                  SHARD = {"rows": n, "files": {"ids": {"name", "bytes",
                                   "sha256"}, "labels": {...}, "dense"?: {...}, "multi"?: {...}}}
    {split}-{k:05d}.ids.npy       int32 [n, fields]        (k: 0.., the shard's place in order)
    {split}-{k:05d}.labels.npy    float32 [n]
    {split}-{k:05d}.dense.npy     float32 [n, D]           (typed data only)
    {split}-{k:05d}.multi.npy     int32 [n, Fm, L]
    feature_map.json              as in a one-file folder (written last: the folder is whole)

A split's rows are its shards' rows in shard order. A folder without manifest.json is the
one-file layout ({split}.ids.npy ...): one shard per split. `read_prepared(DIR, split)`
reads either; `check(folder)` (`dcnmix prepare --check`) names the first shard missing,
truncated or altered.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from ..files import check_regular, file_sha256
from .errors import DataError

MANIFEST = "manifest.json"
FORMAT, VERSION = "dcnmix.shards", 1
SPLITS = ("train", "valid", "test")
ARRAYS = ("ids", "labels", "dense", "multi")
SHARD_FILE = re.compile(r"^(train|valid|test)-(\d{5,})\.(ids|labels|dense|multi)\.npy$")


def shard_name(split: str, index: int, array: str) -> str:
    return f"{split}-{index:05d}.{array}.npy"


def describe(folder: str, split: str, index: int, arrays=ARRAYS) -> dict:
    """A manifest SHARD record of the shard files written in `folder` (rows from the labels)."""
    files = {}
    for array in arrays:
        name = shard_name(split, index, array)
        path = os.path.join(folder, name)
        if os.path.exists(path):
            files[array] = {"name": name, "bytes": os.path.getsize(path), "sha256": file_sha256(path)}
    rows = int(np.load(os.path.join(folder, files["labels"]["name"]), mmap_mode="r").shape[0])
    return {"rows": rows, "files": files}


def write_manifest(folder: str, splits: dict, *, engine: str, options: dict) -> dict:
    """Write manifest.json: `splits` {split: [SHARD, ...]} in shard order."""
    manifest = {"format": FORMAT, "version": VERSION, "engine": engine, "options": options,
                "splits": {s: list(splits.get(s, [])) for s in SPLITS}}
    with open(os.path.join(folder, MANIFEST), "w") as fh:
        json.dump(manifest, fh, indent=1, default=str)
    return manifest


def load_manifest(folder: str) -> dict | None:
    """The manifest of a sharded folder (None: a one-file folder); a DataError when it is
    not one this version reads."""
    path = os.path.join(os.fspath(folder), MANIFEST)
    if not os.path.lexists(path):
        return None
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(path, None, f"cannot read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(path, None, f"not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise DataError(path, None, f"manifest version {manifest.get('version')!r}; this dcnmix "
                                    f"reads version {VERSION}")
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or any(not isinstance(splits.get(s), list) for s in SPLITS):
        raise DataError(path, None, "its 'splits' must list the shards of train, valid and test")
    return manifest


def check_shard(folder: str, shard: dict, *, sha256: bool = True) -> None:
    """A DataError naming the shard's first file missing, of the wrong size or (sha256)
    altered."""
    for array, want in sorted(shard.get("files", {}).items()):
        target = os.path.join(folder, os.path.basename(str(want.get("name"))))
        try:
            size = check_regular(target)
        except (OSError, ValueError) as exc:
            raise DataError(target, None, f"shard missing or unreadable "
                                          f"({getattr(exc, 'strerror', None) or exc})") from None
        if size != want.get("bytes"):
            raise DataError(target, None, f"{size:,} bytes, the manifest records "
                                          f"{want.get('bytes')!r} (truncated or replaced)")
        if sha256 and file_sha256(target) != want.get("sha256"):
            raise DataError(target, None, "contents do not match the sha256 in manifest.json "
                                          "(altered, or another folder's shard)")


def check(folder: str, manifest: dict, rows: dict, *, sha256: bool = True) -> None:
    """Every shard of every split whole (sizes and, unless sha256 is off, contents), and each
    split's shard rows adding up to the feature map's `rows`."""
    for split in SPLITS:
        shards = manifest["splits"][split]
        for shard in shards:
            check_shard(folder, shard, sha256=sha256)
        total = sum(int(s["rows"]) for s in shards)
        if rows.get(split) is not None and total != rows[split]:
            raise DataError(os.path.join(folder, MANIFEST), None,
                            f"the {split} shards hold {total:,} rows, feature_map.json records "
                            f"{rows[split]:,}")


class SplitShards:
    """One split of a prepared folder as its shards: `rows` per shard, `read(k)` a shard's
    arrays ({ids, labels, dense?, multi?}, read-only memory maps). Each shard's sha256 is
    checked the first time this process reads it (sizes were checked on open), so a
    process that reads only its own shards hashes only those."""

    def __init__(self, folder: str, split: str, shards: list[dict], *, verified: bool = False):
        self.folder, self.split, self.shards = os.fspath(folder), split, list(shards)
        self.rows = tuple(int(s["rows"]) for s in self.shards)
        self._hashed = set(range(len(self.shards))) if verified else set()
        self.read_log: list | None = None        # tests: the shards this process read

    def __len__(self) -> int:
        return sum(self.rows)

    def read(self, index: int) -> dict:
        shard = self.shards[index]
        if index not in self._hashed:
            check_shard(self.folder, shard)
            self._hashed.add(index)
        if self.read_log is not None:
            self.read_log.append(index)
        out = {}
        for array, info in shard["files"].items():
            path = os.path.join(self.folder, os.path.basename(info["name"]))
            out[array] = np.load(path, mmap_mode="r")
            if out[array].shape[:1] != (self.rows[index],):
                raise DataError(path, None, f"{out[array].shape[0]:,} rows, the manifest records "
                                            f"{self.rows[index]:,}")
        return out

    def concat(self) -> dict:
        """Every shard's arrays, concatenated in shard order (in memory)."""
        parts = [self.read(k) for k in range(len(self.shards))]
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def one_file_shards(folder: str, split: str) -> list[dict]:
    """The one-file layout's split as a single shard record (sizes only; the feature map's
    record, when present, has the sha256)."""
    files = {}
    for array in ARRAYS:
        name = f"{split}.{array}.npy"
        if os.path.exists(os.path.join(folder, name)):
            files[array] = {"name": name, "bytes": os.path.getsize(os.path.join(folder, name))}
    if "labels" not in files:
        raise DataError(os.path.join(folder, f"{split}.labels.npy"), None, "no such file: not a "
                                                                          "prepared folder")
    rows = int(np.load(os.path.join(folder, files["labels"]["name"]), mmap_mode="r").shape[0])
    return [{"rows": rows, "files": files}]


def split_shards(folder, split: str, *, verified: bool = False) -> SplitShards:
    """The shards of `split` in a prepared folder of either layout."""
    folder = os.fspath(folder)
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    manifest = load_manifest(folder)
    if manifest is None:
        return SplitShards(folder, split, one_file_shards(folder, split), verified=True)
    return SplitShards(folder, split, manifest["splits"][split], verified=verified)


def read_prepared(folder, split: str) -> dict:
    """A split's arrays of a prepared folder (one-file or sharded): {ids, labels} and, for
    typed data, dense and multi; the shards concatenated in order.

        arrays = read_prepared("prepared/criteo", "train")    # arrays["ids"]: int32 [n, F]
    """
    return split_shards(folder, split).concat()


def reshard(folder: str, shards: int) -> dict:
    """Cut a one-file folder's splits (written by the polars engine in `folder`) into
    `shards` contiguous shards each (rows in order; the one-file arrays removed); returns
    {split: [SHARD, ...]} for the manifest. Memory-flat: rows are copied from memory maps."""
    out = {}
    for split in SPLITS:
        arrays = {a: os.path.join(folder, f"{split}.{a}.npy") for a in ARRAYS
                  if os.path.exists(os.path.join(folder, f"{split}.{a}.npy"))}
        maps = {a: np.load(p, mmap_mode="r") for a, p in arrays.items()}
        n = maps["labels"].shape[0]
        bounds = np.linspace(0, n, shards + 1).round().astype(int)
        out[split] = []
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            for array, source in maps.items():
                np.save(os.path.join(folder, shard_name(split, k, array)), source[a:b])
            out[split].append(describe(folder, split, k, tuple(maps)))
        del maps
        for path in arrays.values():
            os.remove(path)
    return out
