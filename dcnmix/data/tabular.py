"""Loaders for Criteo's 40-column TSV and for generic categorical CSV files."""
from __future__ import annotations

import csv
import dataclasses
import math
import os
from typing import Iterable, Sequence

import numpy as np

from .dataset import Dataset
from .errors import DataError
from .syntax import is_number
from .textfile import read_lines
from .vocab import Vocabulary, bucketize

CRITEO_NUMERIC = tuple(f"I{i}" for i in range(1, 14))
CRITEO_CATEGORICAL = tuple(f"C{i}" for i in range(1, 27))
CRITEO_FIELDS = CRITEO_NUMERIC + CRITEO_CATEGORICAL


def _label(text: str, path: str, lineno: int) -> float:
    value = {"0": 0.0, "1": 1.0, "-1": 0.0, "0.0": 0.0, "1.0": 1.0}.get(text.strip())
    if value is None:
        raise DataError(path, lineno, f"label {text!r} is not one of -1, 0, 1")
    return value


def _numeric_token(text: str, path: str, lineno: int, field: str) -> str | None:
    if text == "":
        return None
    if not is_number(text):
        raise DataError(path, lineno, f"field {field}: {text!r} is not a number (ASCII digits)")
    value = float(text)
    if not math.isfinite(value):
        raise DataError(path, lineno, f"field {field}: {text!r} is not a finite number")
    return bucketize(value)


@dataclasses.dataclass(frozen=True)
class TokenTable:
    """A file read once: labels and, per field, its raw tokens (None = missing)."""

    path: str
    field_names: tuple[str, ...]
    columns: tuple[list, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def vocabulary(self, min_count: int = 2) -> Vocabulary:
        """The vocabulary of these tokens (kept when seen at least min_count times)."""
        return Vocabulary.build(self.field_names, self.columns, min_count)

    def encode(self, vocab: Vocabulary) -> Dataset:
        if vocab.field_names != self.field_names:
            raise DataError(self.path, None, f"fields {self.field_names} do not match the "
                                             f"vocabulary's {vocab.field_names}")
        return Dataset(vocab.encode(self.columns), self.labels, self.field_names,
                       vocab.cardinalities, vocab.feat_dim, vocab)


def _read(path: str, rows: Iterable[tuple[int, list[str]]], label_col: int,
          fields: Sequence[tuple[str, int, bool]]) -> TokenTable:
    """(lineno, cells) rows -> TokenTable. fields: (name, column, is_numeric)."""
    labels: list[float] = []
    columns: list[list[str | None]] = [[] for _ in fields]
    for lineno, cells in rows:
        labels.append(_label(cells[label_col], path, lineno))
        for column, (name, col, numeric) in zip(columns, fields):
            text = cells[col]
            column.append(_numeric_token(text, path, lineno, name) if numeric else (text or None))
    if not labels:
        raise DataError(path, None, "file holds no rows")
    return TokenTable(path, tuple(name for name, _, _ in fields), tuple(columns),
                      np.asarray(labels, np.float32))


def _encode(table: TokenTable, vocab: Vocabulary | None, min_count: int) -> Dataset:
    return table.encode(vocab if vocab is not None else table.vocabulary(min_count=min_count))


def load_criteo(path, vocab: Vocabulary | None = None, min_count: int = 2) -> Dataset:
    """Criteo TSV (label, I1-I13, C1-C26). Pass the training split's `.vocab` for other splits."""
    return _encode(read_criteo(path), vocab, min_count)


def read_criteo(path) -> TokenTable:
    """The tokens of a Criteo TSV file (integers log-bucketed), read once."""
    path = os.fspath(path)
    width = 1 + len(CRITEO_FIELDS)

    def rows():
        for lineno, line in read_lines(path):
            cells = line.split("\t")
            if len(cells) != width:
                raise DataError(path, lineno, f"row has {len(cells)} tab-separated columns, "
                                              f"expected {width} (label, I1-I13, C1-C26)")
            yield lineno, cells

    fields = [(name, i + 1, name in CRITEO_NUMERIC) for i, name in enumerate(CRITEO_FIELDS)]
    return _read(path, rows(), 0, fields)


def load_csv(path, label: str = "label", categorical: Sequence[str] = (),
             numeric: Sequence[str] = (), vocab: Vocabulary | None = None, min_count: int = 2,
             delimiter: str = ",") -> Dataset:
    """CSV with a header: `label` column, categorical columns, numeric columns (log-bucketed).

    Fields are ordered categorical first, then numeric.
    """
    table = read_csv(path, label=label, categorical=categorical, numeric=numeric,
                     delimiter=delimiter)
    return _encode(table, vocab, min_count)


def read_csv(path, label: str = "label", categorical: Sequence[str] = (),
             numeric: Sequence[str] = (), delimiter: str = ",") -> TokenTable:
    """The tokens of a CSV file's label, categorical and numeric columns, read once."""
    path = os.fspath(path)
    if not categorical and not numeric:
        raise ValueError("load_csv needs at least one categorical or numeric column")
    lines = read_lines(path)
    try:
        header_lineno, header_text = next(lines)
    except StopIteration:
        raise DataError(path, None, "file is empty (no header)") from None
    def parse(lineno: int, line: str) -> list[str]:
        try:
            return next(csv.reader([line], delimiter=delimiter))
        except csv.Error as exc:
            raise DataError(path, lineno, f"bad CSV: {exc}") from None

    header = parse(header_lineno, header_text)
    position = {name: i for i, name in enumerate(header)}
    wanted = [label, *categorical, *numeric]
    missing = [c for c in wanted if c not in position]
    if missing:
        raise DataError(path, header_lineno, f"header has no column(s) {missing}; it has {header}")
    twice = sorted({c for c in wanted if header.count(c) > 1})
    if twice:
        raise DataError(path, header_lineno, f"the header names a column more than once: {twice}")

    def rows():
        for lineno, line in lines:
            cells = parse(lineno, line)
            if len(cells) != len(header):
                raise DataError(path, lineno, f"row has {len(cells)} columns, the header "
                                              f"has {len(header)}")
            yield lineno, cells

    fields = [(c, position[c], False) for c in categorical] + [(c, position[c], True) for c in numeric]
    return _read(path, rows(), position[label], fields)
