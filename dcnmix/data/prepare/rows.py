"""The rows of every source file, checked: labels 0/1, every field's values acceptable to
its kind, each row's split; what both passes (counting, encoding) walk over."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..errors import DataError
from ..fieldkinds import KINDS, as_numbers
from .options import PrepareOptions
from .readers import first_line, iter_batches
from .splits import Splitter


# label text read as 0 / 1 without --positive (case and surrounding spaces ignored)
LABEL_TEXT = {"0": 0.0, "1": 1.0, "-1": 0.0, "0.0": 0.0, "1.0": 1.0, "-1.0": 0.0,
              "false": 0.0, "true": 1.0}


def parse_labels(column, positive: str | None = None):
    """(0/1 float32 labels, index of the first bad row or None, its reason) of a polars
    Series: numbers 0/1 (-1 reads as 0), booleans, their text forms; with `positive`, that
    value is 1 and every other value 0."""
    import polars as pl
    if column.null_count():
        row = int(np.argmax(column.is_null().to_numpy()))
        return None, row, "label is empty"
    if positive is not None:
        return (column.cast(pl.String) == positive).to_numpy().astype(np.float32), None, ""
    if column.dtype == pl.Boolean:
        return column.cast(pl.Float32).to_numpy(), None, ""
    if column.dtype == pl.String:
        y = column.str.strip_chars().str.to_lowercase().replace_strict(
            LABEL_TEXT, default=None, return_dtype=pl.Float64)
    else:
        y = column.cast(pl.Float64).fill_nan(None)
        y = y.set(~y.is_in([0.0, 1.0, -1.0]).fill_null(False), None)
    if y.null_count():
        row = int(np.argmax(y.is_null().to_numpy()))
        return None, row, (f"label {column[row]!r} is not 0/1, -1/1 or true/false: name the "
                           "positive value with --positive VALUE")
    return (y == 1.0).to_numpy().astype(np.float32), None, ""


def labels(batch, opt: PrepareOptions, path: str, start: int) -> np.ndarray:
    """0/1 float32 labels (parse_labels); anything else is a DataError with its line."""
    y, row, reason = parse_labels(batch[opt.label], opt.positive)
    if row is not None:
        raise DataError(path, start + row + first_line(opt), reason)
    return y


def check_fields(batch, opt: PrepareOptions, path: str, start: int):
    """The batch with the columns of number kinds parsed once (Float64, NaN missing), for the
    fitting and the encoding after; a DataError at the first value a field's kind refuses
    (numeric and dense: text or not finite; multi-valued: a list of the wrong element type),
    naming the column."""
    bad = first_invalid(batch, opt.fields)
    if bad:
        name, row, reason = bad
        raise DataError(path, start + row + first_line(opt), f"column {name}: {reason}")
    parsed = [as_numbers(batch[name]) for name, kind in opt.fields if KINDS[kind].reads_numbers]
    return batch.with_columns(parsed) if parsed else batch


def first_invalid(batch, fields) -> tuple[str, int, str] | None:
    """(column, row, reason) of the first value a field's kind refuses, over (name, kind)
    pairs: the one check of prepare, `dcnmix predict` and load_run(...).predict(frame)."""
    for name, kind in fields:
        bad = KINDS[kind].invalid(batch, name)
        if bad:
            return (name, *bad)
    return None


def checked_rows(opt: PrepareOptions, splitter: Splitter) -> Iterator:
    """Yield (file index, path, batch, first row, split per row, labels) over every file."""
    for index, path in enumerate(opt.paths):
        start = 0
        for batch in iter_batches(path, opt, splitter.extra()):
            y = labels(batch, opt, path, start)
            batch = check_fields(batch, opt, path, start)
            yield index, path, batch, start, splitter(index, batch, start, path), y
            start += batch.height
        if start == 0:
            raise DataError(path, None, "file holds no rows")
