"""PrepareOptions: what `dcnmix prepare` reads, and how it splits and encodes it."""
from __future__ import annotations

import dataclasses

from ..tabular import CRITEO_FIELDS, CRITEO_NUMERIC

SPLITS = ("train", "valid", "test")
SOURCE_KINDS = ("criteo", "csv", "parquet", "libfm", "frappe")
LIBFM_KINDS = ("libfm", "frappe")     # the ids are given: dcnmix.data.prepare.libfm


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
    """What to read and how to split and encode it."""

    kind: str
    paths: tuple[str, ...]                  # one file, or three: train, valid, test
    label: str = "label"
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    delimiter: str = ","
    columns: tuple[str, ...] = ()           # names of a header-less CSV's columns
    min_count: int = 2
    split_column: str | None = None
    order_by: str | None = None
    split_seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    hash_buckets: tuple[tuple[str, int], ...] = ()   # categorical fields hashed into N buckets

    def __post_init__(self):
        for name in ("paths", "categorical", "numeric", "columns", "fractions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "hash_buckets", tuple((str(f), int(n)) for f, n in
                                                       dict(self.hash_buckets).items()))
        categorical = {n for n, k in self.fields if k == "hashed"}
        bad = [f for f, n in self.hash_buckets if f not in categorical or n < 1]
        if bad:
            raise ValueError(f"--hash-buckets {bad}: not categorical fields, or fewer than 1 bucket")
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r} (expected one of {SOURCE_KINDS})")
        if len(self.paths) not in (1, 3):
            raise ValueError(f"give one file, or three (train, valid, test); got {len(self.paths)}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if self.split_column and self.order_by:
            raise ValueError("--split-column and --order-by are two different splits: give one")
        if len(self.paths) == 3 and (self.split_column or self.order_by):
            raise ValueError("three files are the split already: drop --split-column / --order-by")
        if self.kind == "csv" and not (self.categorical or self.numeric):
            raise ValueError("csv data needs --categorical and/or --numeric column names")
        overlap = set(self.categorical) & set(self.numeric)
        if self.label in (*self.categorical, *self.numeric) or overlap:
            raise ValueError(f"a column is listed twice (label {self.label!r}, categorical "
                             f"{self.categorical}, numeric {self.numeric})")

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """(name, kind) per field, in id order; kind categorical, hashed or numeric (the
        names of dcnmix.data.fieldkinds.KINDS)."""
        hashed = dict(self.hash_buckets)
        cat = lambda n: "hashed" if n in hashed else "categorical"
        if self.kind == "criteo":
            return tuple((n, "numeric" if n in CRITEO_NUMERIC else cat(n)) for n in CRITEO_FIELDS)
        return tuple([(c, cat(c)) for c in self.categorical] + [(c, "numeric") for c in self.numeric])

    def split_rule(self) -> dict:
        if len(self.paths) == 3:
            return {"how": "files"}
        if self.split_column:
            return {"how": "column", "column": self.split_column}
        if self.order_by:
            return {"how": "order", "column": self.order_by, "fractions": list(self.fractions)}
        return {"how": "hash", "seed": self.split_seed, "fractions": list(self.fractions)}
