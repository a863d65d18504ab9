"""Pass one: fit each field's kind on the training rows (its Fitter: token counts kept
min_count times, bucket boundaries, dense moments, list elements), count the rows per split
and, with --positive, the label's values."""
from __future__ import annotations

from ..fieldkinds import KINDS, Field, ValueCounts
from .options import PrepareOptions
from .rows import checked_rows
from .splits import Splitter


def count_pass(opt: PrepareOptions, splitter: Splitter, log
               ) -> tuple[tuple[Field, ...], list[int], dict]:
    """The fields fitted on the training rows, the rows per split, and {label value: rows}
    over the training rows when --positive names the positive value (else {})."""
    import polars as pl
    fitters = [KINDS[kind].fitter(name, opt) for name, kind in opt.fields]
    labels, rows = ValueCounts(), [0, 0, 0]
    for _, _, batch, start, split, _ in checked_rows(opt, splitter):
        train = batch.filter(pl.Series(split == 0))
        for fitter in fitters:
            fitter.add(train[fitter.name])
        if opt.positive is not None:
            labels.add(train[opt.label].cast(pl.String))
        rows = [r + int((split == s).sum()) for s, r in enumerate(rows)]
        log(f"counted {sum(rows):,} rows")
    return tuple(f.field() for f in fitters), rows, label_values(labels)


def label_values(labels: ValueCounts) -> dict:
    """{label value: training rows} of the label values counted."""
    merged = labels.merged()
    return {} if merged is None else dict(zip(merged["values"].to_list(),
                                              (int(c) for c in merged["counts"])))
