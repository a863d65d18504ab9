"""Dataset specs: 'synthetic', 'frappe[:DIR]', 'criteo:PATH', 'csv:PATH', 'parquet:PATH',
'libfm:PATH', 'prepared:DIR' -> (train, validation, test). Framework-free.

criteo, csv and parquet files go through `dcnmix prepare` (pyarrow, streaming) once and are
cached (dcnmix.data.prepared.cache_folder); `prepared:DIR` opens a prepared folder as
memory maps. The split's seed (split_seed) is its own, apart from the training seed.

`DataSpec` is the spec with its loading options, recorded in a run folder so that a run
describes its own data (`dcnmix svd RUN_DIR` reloads it from there).
"""
from __future__ import annotations

import dataclasses
import os

from .dataset import Dataset, split
from .libfm import load_frappe, load_libfm
from .options import DATA_FIELDS, DataOptions
from .synthetic import synthetic

KINDS = ("synthetic", "frappe", "criteo", "libfm", "csv", "parquet", "prepared")
SPLIT = (0.8, 0.1, 0.1)


class DatasetSpecError(ValueError):
    """A --dataset value that names no dataset this project can load."""


# the fields a run folder's data record always has (those of the first DataSpec); the
# others are written only when they differ from their defaults, so old records compare equal
RECORDED = ("spec", "synthetic_rows", "split_seed", "label", "categorical", "numeric",
            "min_count", "delimiter")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec(DataOptions):
    """A dataset spec and the options that shape what it loads (dcnmix.data.options: the
    columns and their types, the split and its seed, the encoding)."""

    spec: str = "synthetic"
    synthetic_rows: int = 100_000

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        return {**{k: out[k] for k in RECORDED},
                **{k: v for k, v in out.items()
                   if k not in RECORDED and v != DataSpec.__dataclass_fields__[k].default}}

    @classmethod
    def from_dict(cls, data: dict) -> "DataSpec":
        data = dict(data)
        if "seed" in data:          # run folders written before split_seed
            data["split_seed"] = data.pop("seed")
        for name in ("buckets", "hash_buckets"):
            if name in data:
                data[name] = tuple(tuple(pair) for pair in data[name])
        return cls(**data)

    def resolved(self, *, base: str | None = None) -> "DataSpec":
        """The spec with its path absolute (what a run folder records, so that it is found
        from any working folder). `base`: the folder a relative path is tried against when
        it does not exist from the working folder (a record written before paths were
        absolute: the run folder and its parents are tried, see for_run)."""
        kind, sep, path = self.spec.partition(":")
        if not sep or not path or os.path.isabs(path):
            return self
        candidates = [path] + ([os.path.join(base, path)] if base else [])
        found = next((c for c in candidates if os.path.exists(c)), path)
        return dataclasses.replace(self, spec=f"{kind}:{os.path.abspath(found)}")

    @classmethod
    def for_run(cls, record: dict, run_dir: str) -> "DataSpec":
        """A run folder's recorded data spec, its path resolved: absolute as recorded, or
        (older records) relative to the working folder, else to the run folder's parents."""
        spec = cls.from_dict(record)
        folder = os.path.abspath(run_dir)
        while True:
            found = spec.resolved(base=folder)
            if os.path.exists(found.spec.partition(":")[2]) or folder == os.path.dirname(folder):
                return found if os.path.exists(found.spec.partition(":")[2]) else spec
            folder = os.path.dirname(folder)

    def options(self) -> dict:
        """The DataOptions fields, as keywords (for PrepareOptions)."""
        return {name: getattr(self, name) for name in DATA_FIELDS}

    def load(self, log=print) -> tuple[Dataset, Dataset, Dataset]:
        return load_splits(self.spec, synthetic_rows=self.synthetic_rows, seed=self.split_seed,
                           log=log, options=self)


def default_frappe_dir() -> str:
    shared = os.environ.get("DCNMIX_SHARED", os.path.join("..", "shared"))
    return os.path.join(shared, "data", "frappe")


def load_splits(spec: str, *, synthetic_rows: int = 100_000, seed: int = 0, log=print,
                options: DataOptions | None = None, **columns) -> tuple[Dataset, Dataset, Dataset]:
    """Train / validation / test for a spec; `seed` is the split's (and the synthetic data's).
    synthetic and libfm files are split 80/10/10 in memory; criteo, csv and parquet files go
    through `prepare` (fields fitted on the training rows; options: DataOptions, or its
    fields as keywords) once, cached."""
    kind, _, path = spec.partition(":")
    if kind not in KINDS:
        raise DatasetSpecError(f"unknown dataset {spec!r}: expected one of synthetic, frappe[:DIR], "
                               "criteo:PATH, csv:PATH, parquet:PATH, libfm:PATH, prepared:DIR")
    if kind == "synthetic":
        return split(synthetic(n=synthetic_rows, seed=seed), SPLIT, seed=seed)
    if kind == "frappe":
        folder = path or default_frappe_dir()
        if not os.path.isdir(folder):
            raise DatasetSpecError(f"frappe folder {folder!r} does not exist (use frappe:DIR)")
        return load_frappe(folder)
    if kind == "prepared":
        from .prepared import open_prepared
        if not path or not os.path.isdir(path):
            raise DatasetSpecError(f"prepared folder {path!r} does not exist (prepared:DIR, "
                                   "made by `dcnmix prepare`)")
        return open_prepared(path)
    if not path:
        raise DatasetSpecError(f"dataset {kind!r} needs a file: {kind}:PATH")
    if not os.path.isfile(path):
        from .errors import not_a_file
        raise DatasetSpecError(f"{path}: {not_a_file(path)}")
    if kind == "libfm":
        return split(load_libfm(path), SPLIT, seed=seed)
    from .prepare import PrepareOptions
    from .prepared import prepared_splits
    given = {} if options is None else {n: getattr(options, n) for n in DATA_FIELDS}
    opt = PrepareOptions(kind=kind, paths=(path,), **{**given, **columns, "split_seed": seed})
    return prepared_splits(opt, log=log)
