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
    fitters, rows, labels, _ = fit_rows(opt, ((batch, start, split) for _, _, batch, start, split, _
                                              in checked_rows(opt, splitter)), log)
    return tuple(f.field() for f in fitters), rows, label_values(labels)


def fit_rows(opt: PrepareOptions, batches, log=lambda *_: None):
    """Each field's Fitter over the training rows of (batch, first row, split) triples, the
    rows per split, the label values counted (--positive) and the first row seen (pass one;
    the Spark engine runs it per partition)."""
    import polars as pl
    fitters = [KINDS[kind].fitter(name, opt) for name, kind in opt.fields]
    labels, rows, first = ValueCounts(), [0, 0, 0], None
    for batch, start, split in batches:
        first = start if first is None else first
        train = batch.filter(pl.Series(split == 0))
        for fitter in fitters:
            fitter.add(train[fitter.name])
        if opt.positive is not None:
            labels.add(train[opt.label].cast(pl.String))
        rows = [r + int((split == s).sum()) for s, r in enumerate(rows)]
        log(f"counted {sum(rows):,} rows")
    return fitters, rows, labels, first


def label_values(labels: ValueCounts) -> dict:
    """{label value: training rows} of the label values counted."""
    merged = labels.merged()
    return {} if merged is None else dict(zip(merged["values"].to_list(),
                                              (int(c) for c in merged["counts"])))
