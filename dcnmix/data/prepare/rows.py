"""The rows of every source file, checked: labels 0/1, every field's values acceptable to
its kind, each row's split; what both passes (counting, encoding) walk over."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..errors import DataError
from ..fieldkinds import KINDS
from .options import PrepareOptions
from .readers import first_line, iter_batches
from .splits import Splitter


def labels(batch, opt: PrepareOptions, path: str, start: int) -> np.ndarray:
    """0/1 float32 labels (-1 reads as 0); anything else is a DataError with its line."""
    import polars as pl
    y = batch[opt.label].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    bad = ~np.isin(y, (0.0, 1.0, -1.0))     # NaN (empty) included
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(path, start + row + first_line(opt),
                        f"label {float(y[row]):g} is not one of -1, 0, 1" if np.isfinite(y[row])
                        else "label is empty or not a number")
    return (y == 1.0).astype(np.float32)


def check_fields(batch, opt: PrepareOptions, path: str, start: int) -> None:
    """A DataError at the first value a field's kind refuses (numeric: not finite)."""
    for name, kind in opt.fields:
        bad = KINDS[kind].invalid(batch, name)
        if bad:
            row, reason = bad
            raise DataError(path, start + row + first_line(opt), f"field {name}: {reason}")


def checked_rows(opt: PrepareOptions, splitter: Splitter) -> Iterator:
    """Yield (file index, path, batch, first row, split per row, labels) over every file."""
    for index, path in enumerate(opt.paths):
        start = 0
        for batch in iter_batches(path, opt, splitter.extra()):
            y = labels(batch, opt, path, start)
            check_fields(batch, opt, path, start)
            yield index, path, batch, start, splitter(index, batch, start, path), y
            start += batch.height
        if start == 0:
            raise DataError(path, None, "file holds no rows")
