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
from typing import Sequence

from .dataset import Dataset, split
from .libfm import load_frappe, load_libfm
from .synthetic import synthetic

KINDS = ("synthetic", "frappe", "criteo", "libfm", "csv", "parquet", "prepared")
SPLIT = (0.8, 0.1, 0.1)


class DatasetSpecError(ValueError):
    """A --dataset value that names no dataset this project can load."""


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A dataset spec and the options that shape what it loads (the split's seed included)."""

    spec: str = "synthetic"
    synthetic_rows: int = 100_000
    split_seed: int = 0
    label: str = "label"
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    min_count: int = 2
    delimiter: str = ","

    def __post_init__(self):
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "numeric", tuple(self.numeric))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DataSpec":
        data = dict(data)
        if "seed" in data:          # run folders written before split_seed
            data["split_seed"] = data.pop("seed")
        return cls(**data)

    def load(self, log=print) -> tuple[Dataset, Dataset, Dataset]:
        return load_splits(self.spec, synthetic_rows=self.synthetic_rows, seed=self.split_seed,
                           label=self.label, categorical=self.categorical, numeric=self.numeric,
                           min_count=self.min_count, delimiter=self.delimiter, log=log)


def default_frappe_dir() -> str:
    shared = os.environ.get("DCNMIX_SHARED", os.path.join("..", "shared"))
    return os.path.join(shared, "data", "frappe")


def load_splits(spec: str, *, synthetic_rows: int = 100_000, seed: int = 0,
                label: str = "label", categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                min_count: int = 2, delimiter: str = ",", log=print
                ) -> tuple[Dataset, Dataset, Dataset]:
    """Train / validation / test for a spec; `seed` is the split's (and the synthetic data's).
    synthetic and libfm files are split 80/10/10 in memory; criteo, csv and parquet files go
    through `prepare` (vocabulary on the training rows, a hashed split) once, cached."""
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
        raise DatasetSpecError(f"{path}: no such file")
    if kind == "libfm":
        return split(load_libfm(path), SPLIT, seed=seed)
    from .prepare import PrepareOptions
    from .prepared import prepared_splits
    opt = PrepareOptions(kind=kind, paths=(path,), label=label, categorical=tuple(categorical),
                         numeric=tuple(numeric), delimiter=delimiter, min_count=min_count,
                         split_seed=seed)
    return prepared_splits(opt, log=log)
