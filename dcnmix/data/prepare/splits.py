"""Which split (0 train, 1 valid, 2 test) each row goes to: three files, a split column,
time order, or a seeded hash of the row number that needs no row count."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .options import PrepareOptions
from .readers import first_line, iter_batches

SPLIT_NAMES = {"train": 0, "valid": 1, "validation": 1, "val": 1, "test": 2}


def hashed_split(seed: int, start: int, n: int, fractions) -> np.ndarray:
    """Split index (0 train, 1 valid, 2 test) of rows start..start+n-1: a splitmix64 hash of
    (seed, row) compared with the cumulative fractions. Streams: no row count needed."""
    with np.errstate(over="ignore"):
        x = np.arange(start, start + n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    u = (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return np.searchsorted(np.cumsum(fractions)[:2], u, side="right").astype(np.int8)


def sort_keys(col, opt, path: str, start: int = 0):
    """The order column as numbers: numbers as they are, text parsed entirely as numbers
    or as dates/times; text in any other form is refused naming its first line that is
    neither, unless --order-by-text (then ranked as text)."""
    import polars as pl
    if col.dtype != pl.String:
        return col.cast(pl.Float64)
    if opt.order_by_text:
        return col.rank("dense").cast(pl.Float64)
    text = col.str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    number = number.set(number.is_nan().fill_null(False), None)
    try:
        when = text.str.to_datetime(strict=False, time_unit="us").cast(pl.Int64)
    except pl.exceptions.PolarsError:      # no date format fits the first value
        when = pl.Series([None] * len(text), dtype=pl.Int64)
    best = number if number.null_count() <= when.null_count() else when
    if best.null_count() == 0:
        return best.cast(pl.Float64)
    row = int(np.argmax(best.is_null().to_numpy()))
    kind = "a number" if best is number else "a date or time"
    raise DataError(path, start + row + first_line(opt),
                    f"--order-by {opt.order_by}: {col[row]!r} is not {kind} like the "
                    "column's other values; fix the value, or sort as text with "
                    "--order-by-text on")


class Splitter:
    """The split index of every row, batch by batch, for one PrepareOptions."""

    def __init__(self, opt: PrepareOptions):
        self.opt = opt
        self.order = None
        if opt.order_by:
            self.order = self._order_split()

    def extra(self) -> tuple[str, ...]:
        """The columns the split reads besides the fields."""
        return tuple(c for c in (self.opt.split_column, self.opt.order_by) if c)

    def _order_split(self) -> np.ndarray:
        """Time order: the rows sorted by the column (stable); the first 80% train, the next
        10% validate. Holds the column for all rows (8 bytes a row)."""
        import polars as pl
        path, parts = self.opt.paths[0], []
        start = 0
        for batch in iter_batches(path, self.opt, (self.opt.order_by,)):
            col = batch[self.opt.order_by]
            if col.null_count():
                row = int(np.argmax(col.is_null().to_numpy()))
                raise DataError(path, start + row + first_line(self.opt),
                                f"--order-by {self.opt.order_by}: empty value")
            parts.append(col)
            start += batch.height
        column = pl.concat(parts) if parts else pl.Series(self.opt.order_by, [], pl.Float64)
        values = sort_keys(column, self.opt, path).to_numpy()
        order = np.argsort(values, kind="stable")
        bounds = np.round(np.cumsum(self.opt.fractions) * len(values)).astype(int)
        split = np.empty(len(values), np.int8)
        for index, (a, b) in enumerate(zip([0, *bounds[:2]], bounds)):
            split[order[a:b]] = index
        return split

    def __call__(self, file_index: int, batch, start: int, path: str) -> np.ndarray:
        n, opt = batch.height, self.opt
        if len(opt.paths) == 3:
            return np.full(n, file_index, np.int8)
        if self.order is not None:
            return self.order[start:start + n]
        if opt.split_column:
            return self._named(batch[opt.split_column].to_list(), start, path)
        return hashed_split(opt.split_seed, start, n, opt.fractions)

    def _named(self, values: list, start: int, path: str) -> np.ndarray:
        """A split column's values (train, valid or validation or val, test) as indices."""
        names = {v: SPLIT_NAMES.get(str(v).strip().lower()) for v in set(values)}
        bad = [v for v, s in names.items() if s is None]
        if bad:
            row = next(i for i, v in enumerate(values) if v in bad)
            raise DataError(path, start + row + first_line(self.opt),
                            f"split column {self.opt.split_column!r}: {values[row]!r} is not "
                            "train, valid (validation) or test")
        return np.array([names[v] for v in values], np.int8)
