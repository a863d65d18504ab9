"""The output folder of `prepare`: claimed first, written in a fresh working folder beside
it, checksummed, then swapped into its place (feature_map.json last), so a folder with a
feature map is whole.

Ownership: `out` is replaced only when it is absent, empty, or a prepared folder (nothing
in it but the files prepare writes); never when it holds other files, one of the inputs, or
the working folder. One prepare at a time per `out`: a lock beside it (`.NAME.lock`, flock:
a dead prepare leaves no stale lock); each run has its own working folder (mkdtemp). The
swap is atomic where the kernel has renameat2 (dcnmix.files.swap_in): at every moment `out`
is the old folder or the new one.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import tempfile

from ... import files
from ...files import file_sha256
from ..errors import DataError
from ..featuremap import FeatureMap
from ..shards import MANIFEST, SHARD_FILE, reshard, write_manifest

WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
PREPARED = re.compile(r"^(train|valid|test)\.(ids|labels|dense|multi)\.npy$")


def is_prepared_file(name: str) -> bool:
    """A file `prepare` writes: feature_map.json, a split's array, or (sharded folders,
    dcnmix.data.shards) manifest.json and a shard's array."""
    return (name in ("feature_map.json", MANIFEST) or PREPARED.match(name) is not None
            or SHARD_FILE.match(name) is not None)


def checksums(folder: str) -> dict:
    """{file: {bytes, sha256}} of a prepared folder's arrays (what feature_map.json records
    and open_prepared / `prepare --check` compare)."""
    return {name: {"bytes": os.path.getsize(os.path.join(folder, name)),
                   "sha256": file_sha256(os.path.join(folder, name))}
            for name in sorted(os.listdir(folder)) if PREPARED.match(name)}


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_owned(out: str, inputs=()) -> None:
    """A DataError unless `out` may be replaced by a prepared folder (see the module
    docstring)."""
    files.check_folder(out)
    if _inside(os.getcwd(), out):
        raise DataError(out, None, "is the working folder (or holds it): prepare replaces its "
                                   "--out folder; give a new folder, e.g. --out prepared/NAME")
    for path in inputs:
        if _inside(path, out):
            raise DataError(out, None, f"holds the input {path}: prepare replaces its --out "
                                       "folder; give another one")
    if not os.path.isdir(out):
        return
    foreign = sorted(n for n in os.listdir(out) if not is_prepared_file(n))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DataError(out, None, f"is not a prepared folder (it holds {shown}); prepare "
                                   "replaces only an empty or prepared folder: give another --out")


class Output:
    """A claimed output folder: `fresh()` a working folder, `finish(tmp, fmap)` to put it in
    place. Use as a context manager (the lock is released and a working folder left by an
    error removed on exit)."""

    def __init__(self, out: str, inputs=(), *, shards: int | None = None, engine: str = "polars",
                 options: dict | None = None):
        self.shards, self.engine, self.options = shards, engine, options or {}
        self.out = os.fspath(out)
        self.parent = os.path.dirname(os.path.abspath(self.out))
        self.name = os.path.basename(os.path.abspath(self.out))
        self.inputs, self.tmp, self.lock = tuple(inputs), None, None

    def __enter__(self):
        check_owned(self.out, self.inputs)
        try:
            os.makedirs(self.parent, exist_ok=True)
            self.lock = files.open_lock(os.path.join(self.parent, f".{self.name}.lock"))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write in {self.parent}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self.lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lock.close()
            raise DataError(self.out, None, "another prepare is writing this folder; wait for "
                                            "it or give another --out") from None
        for stale in os.listdir(self.parent):     # working folders of killed prepares
            if stale.startswith(f"{files.TMP_PREFIX}prepare-{self.name}-"):
                shutil.rmtree(os.path.join(self.parent, stale), ignore_errors=True)
        return self

    def fresh(self) -> str:
        """A new, empty working folder beside `out`, unique to this run."""
        self.tmp = tempfile.mkdtemp(dir=self.parent, prefix=f"{files.TMP_PREFIX}prepare-{self.name}-")
        return self.tmp

    def finish(self, tmp: str, fmap: FeatureMap) -> FeatureMap:
        """Record the arrays' checksums in the feature map (or, sharded, in the manifest:
        with `shards`, the one-file arrays are cut into that many shards per split first),
        write it into `tmp`, then put `tmp` in the place of `out` (atomically, see
        dcnmix.files.swap_in)."""
        import dataclasses
        if self.shards:
            write_manifest(tmp, reshard(tmp, self.shards), engine=self.engine, options=self.options)
        info = {**fmap.info, "files": checksums(tmp)}
        if os.path.exists(os.path.join(tmp, MANIFEST)):
            info.pop("files")                     # the manifest records every shard
        fmap = dataclasses.replace(fmap, info=info)
        fmap.save(os.path.join(tmp, "feature_map.json"))
        check_owned(self.out, self.inputs)            # nothing else moved in meanwhile
        files.swap_in(tmp, self.out)
        self.tmp = None
        return fmap

    def __exit__(self, kind, exc, tb):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.lock is not None:
            fcntl.flock(self.lock.fileno(), fcntl.LOCK_UN)
            self.lock.close()
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRORS:
            # a write error (a full disk) names no file: name the folder being written
            raise OSError(exc.errno, f"cannot write {self.out}: {exc.strerror or exc}") from None
        return False
