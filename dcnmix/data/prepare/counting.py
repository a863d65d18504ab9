"""Pass one: count each field's tokens over the training rows and keep those seen
min_count times (what to count, and the Field it makes, is the field kind's)."""
from __future__ import annotations

import numpy as np

from ..fieldkinds import KINDS, Field
from .options import PrepareOptions
from .rows import checked_rows
from .splits import Splitter

MERGE_EVERY = 16    # batches of counts held per field before they are merged


class TokenCounts:
    """Per field, counts of each token over the training rows (polars group-bys, merged
    every few batches, so memory holds the distinct tokens, not the rows)."""

    def __init__(self, fields):
        self.fields = fields
        self.pending = [[] for _ in fields]

    def add(self, batch, train_mask: np.ndarray) -> None:
        import polars as pl
        train = batch.filter(pl.Series(train_mask))
        for i, (name, kind) in enumerate(self.fields):
            values = KINDS[kind].counted(train[name])
            if values is None:
                continue
            counts = values.rename("values").value_counts(name="counts")
            self.pending[i].append(counts.with_columns(pl.col("counts").cast(pl.Int64)))
            if len(self.pending[i]) >= MERGE_EVERY:
                self.pending[i] = [self._merge(self.pending[i])]

    @staticmethod
    def _merge(parts):
        import polars as pl
        return pl.concat(parts).group_by("values").agg(pl.col("counts").sum())

    def fields_kept(self, min_count: int, buckets: dict) -> tuple[Field, ...]:
        """Each field as its kind makes it of the tokens counted min_count times or more."""
        import polars as pl
        out = []
        for (name, kind), pending in zip(self.fields, self.pending):
            kept = self._merge(pending).filter(pl.col("counts") >= min_count) if pending else None
            out.append(KINDS[kind].fitted(name, kept, buckets.get(name, 0)))
        return tuple(out)


def count_pass(opt: PrepareOptions, splitter: Splitter, log) -> tuple[tuple[Field, ...], list[int]]:
    """The fields fitted on the training rows, and the rows per split."""
    counts, rows = TokenCounts(opt.fields), [0, 0, 0]
    for _, _, batch, start, split, _ in checked_rows(opt, splitter):
        counts.add(batch, split == 0)
        rows = [r + int((split == s).sum()) for s, r in enumerate(rows)]
        log(f"counted {sum(rows):,} rows")
    return counts.fields_kept(opt.min_count, dict(opt.hash_buckets)), rows
