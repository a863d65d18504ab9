"""PrepareOptions: what `dcnmix prepare` reads (the source), and how it types, splits and
encodes it (dcnmix.data.options.DataOptions, shared with DataSpec, the CLI and dcnmix.train)."""
from __future__ import annotations

import dataclasses

from ..options import DataOptions

SPLITS = ("train", "valid", "test")
SOURCE_KINDS = ("criteo", "csv", "parquet", "libfm", "frappe")
LIBFM_KINDS = ("libfm", "frappe")     # the ids are given: dcnmix.data.prepare.libfm


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrepareOptions(DataOptions):
    """What to read (kind, one file or three: train, valid, test) and how (DataOptions)."""

    kind: str
    paths: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "paths", tuple(self.paths))
        super().__post_init__()
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r} (expected one of {SOURCE_KINDS})")
        if len(self.paths) not in (1, 3):
            raise ValueError(f"give one file, or three (train, valid, test); got {len(self.paths)}")
        categorical = {n for n, k in self.fields if k in ("categorical", "hashed")}
        bad = [f for f, _ in self.hash_buckets if f not in categorical]
        if bad:
            raise ValueError(f"--hash-buckets {bad}: not categorical fields of this {self.kind} data")
        if len(self.paths) == 3 and (self.split_column or self.order_by):
            raise ValueError("three files are the split already: drop --split-column / --order-by")
        if self.kind in ("csv", "parquet") and not (self.categorical or self.numeric or self.dense
                                                    or self.multivalued):
            raise ValueError(f"{self.kind} data needs --categorical, --numeric, --dense and/or "
                             "--multivalued column names")

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """(name, kind) per field, in id order (DataOptions.fields_of this source)."""
        return self.fields_of(self.kind)

    def split_rule(self) -> dict:
        if len(self.paths) == 3:
            return {"how": "files"}
        if self.split_column:
            return {"how": "column", "column": self.split_column}
        if self.order_by:
            return {"how": "order", "column": self.order_by, "fractions": list(self.fractions)}
        return {"how": "hash", "seed": self.split_seed, "fractions": list(self.fractions)}
