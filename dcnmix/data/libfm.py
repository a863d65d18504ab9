"""Loader for libfm / libsvm files of one-hot categorical rows (Frappe's format)."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .dataset import Dataset, out_of_range
from .errors import DataError
from .syntax import ID_LIMIT, is_id, is_number
from .textfile import read_lines, read_whole

_LABELS = {"1": 1.0, "+1": 1.0, "0": 0.0, "-1": 0.0, "1.0": 1.0, "0.0": 0.0, "-1.0": 0.0}

FRAPPE_FIELDS = ("user", "item", "daytime", "weekday", "isweekend", "homework", "cost",
                 "weather", "country", "city")
FRAPPE_FILES = ("frappe.train.reconstructed.libfm.gz", "frappe.validation.libfm.gz",
                "frappe.test.libfm.gz")


def _parse_token(token: str, path: str, lineno: int, column: int) -> int:
    feat, sep, value = token.partition(":")
    if not sep or not feat or not value:
        raise DataError(path, lineno, f"token {column + 1} {token!r} is not 'id:value'")
    if not is_id(feat) or not is_number(value):
        raise DataError(path, lineno, f"token {column + 1} {token!r} is not 'id:value' with "
                                      "an integer id and a numeric value (ASCII digits)")
    fid, val = int(feat), float(value)
    if fid >= ID_LIMIT:
        raise DataError(path, lineno, f"token {column + 1} {token!r}: feature id {fid} is "
                                      f"outside the int32 range (ids must be < 2^31)")
    if val != 1.0:
        raise DataError(path, lineno, f"token {column + 1} {token!r}: only one-hot values "
                                      "(':1') are supported for categorical fields")
    return fid


_PLAIN = np.zeros(256, bool)       # the bytes of a plain one-hot file: digits, '-', ':', ' ', '\n'
_PLAIN[list(b"0123456789-: \n")] = True


def _read_plain(data: bytes | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, labels) of a plain one-hot libfm file's bytes, parsed at once (numpy); None for
    anything else (other bytes, values other than 1, ragged rows, labels other than -1/0/1,
    ids out of range), which the line parser then reads or refuses, naming the line."""
    data = (data or b"").replace(b"\r\n", b"\n")              # Windows line ends (Frappe's)
    if not data or not _PLAIN[np.frombuffer(data, np.uint8)].all():
        return None
    body = data if data.endswith(b"\n") else data + b"\n"
    raw = np.frombuffer(body, np.uint8)
    gap = raw <= 32                                           # ' ' or '\n'
    ends = np.flatnonzero(~gap[:-1] & gap[1:])                # the last byte of each token
    per_line = np.diff(np.searchsorted(ends, np.flatnonzero(raw == 10)), prepend=0)
    width = int(per_line[0])
    if width < 2 or (per_line != width).any() or body.count(b":") != len(ends) - len(per_line):
        return None
    one = (raw[ends] == ord("1")) & (raw[ends - 1] == ord(":"))
    if (one != (np.arange(len(ends)) % width != 0)).any():   # every feature ':1', no label
        return None
    values = np.fromstring(body.replace(b":1 ", b" ").replace(b":1\n", b"\n"), dtype=np.int64, sep=" ")
    if values.size != len(ends):
        return None
    table = values.reshape(len(per_line), width)
    labels, ids = table[:, 0], table[:, 1:]
    if not np.isin(labels, (-1, 0, 1)).all() or ids.min() < 0 or ids.max() >= ID_LIMIT:
        return None
    return np.ascontiguousarray(ids), (labels == 1).astype(np.float32)


def read_libfm(path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a libfm file into (ids int64 [n, fields], labels float32 [n]); strict, no range
    check. A plain one-hot file is parsed at once (numpy, 12x the line parser on Frappe);
    anything else line by line, where every refusal names its line."""
    path = os.fspath(path)
    plain = _read_plain(read_whole(path))
    if plain is not None:
        return plain
    rows: list[list[int]] = []
    labels: list[float] = []
    width = None
    for lineno, line in read_lines(path):
        tokens = line.split()
        if not tokens:
            raise DataError(path, lineno, "empty line")
        label = _LABELS.get(tokens[0])
        if label is None:
            raise DataError(path, lineno, f"label {tokens[0]!r} is not one of -1, 0, 1")
        ids = [_parse_token(t, path, lineno, i) for i, t in enumerate(tokens[1:])]
        if width is None:
            width = len(ids)
            if width == 0:
                raise DataError(path, lineno, "row has a label but no features")
        elif len(ids) != width:
            raise DataError(path, lineno, f"row has {len(ids)} features, expected {width} "
                                          "(as in the first row)")
        rows.append(ids)
        labels.append(label)
    if not rows:
        raise DataError(path, None, "file holds no rows")
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.float32)


def _check_range(ids: np.ndarray, feat_dim: int, path: str) -> None:
    found = out_of_range(ids, feat_dim)
    if found is not None:
        row, col, _ = found
        raise DataError(path, row + 1, f"feature id {int(ids[row, col])} in field {col + 1} "
                                       f"is outside [0, {feat_dim})")


SPARSE_ROWS = 1 << 24      # a table this large must be mostly used


def _check_sparse(parts, feat_dim: int) -> None:
    """Refuse ids so sparse that feat_dim = max id + 1 would allocate a table mostly unused
    (an id near 2^31 among a few thousand: a 137 GB table at embedding 16), naming the file
    and line of the largest id."""
    if feat_dim <= SPARSE_ROWS:
        return
    distinct = len(np.unique(np.concatenate([ids.ravel() for _, ids, _ in parts])))
    if feat_dim <= 64 * distinct:
        return
    path, ids, _ = max(parts, key=lambda part: int(part[1].max()))
    row = int(np.argmax(ids.max(1)))
    raise DataError(path, row + 1, f"feature id {feat_dim - 1:,} makes an embedding table of "
                                   f"{feat_dim:,} rows for {distinct:,} distinct ids "
                                   f"({feat_dim * 16 * 4 / 2 ** 30:,.0f} GiB at embedding 16): "
                                   "re-number the ids 0..N-1 first")


def load_libfm(path, feat_dim: int | None = None, field_names: Sequence[str] | None = None
               ) -> Dataset:
    """Load one libfm file. feat_dim defaults to max id + 1; ids are checked against it."""
    ids, labels = read_libfm(path)
    return _dataset([(os.fspath(path), ids, labels)], feat_dim, field_names)[0]


def load_libfm_splits(paths: Sequence, feat_dim: int | None = None,
                      field_names: Sequence[str] | None = None) -> tuple[Dataset, ...]:
    """Load several libfm files sharing one id space (feat_dim = max id over all files + 1)."""
    parts = [(os.fspath(p), *read_libfm(p)) for p in paths]
    return _dataset(parts, feat_dim, field_names)


def load_frappe(folder) -> tuple[Dataset, Dataset, Dataset]:
    """Train / validation / test of Frappe from a folder holding its three libfm files."""
    paths = [os.path.join(os.fspath(folder), name) for name in FRAPPE_FILES]
    return load_libfm_splits(paths, field_names=FRAPPE_FIELDS)


def _dataset(parts, feat_dim, field_names) -> tuple[Dataset, ...]:
    widths = {ids.shape[1] for _, ids, _ in parts}
    if len(widths) != 1:
        detail = ", ".join(f"{p}: {ids.shape[1]}" for p, ids, _ in parts)
        raise DataError(parts[-1][0], None, f"files disagree on the number of fields ({detail})")
    width = widths.pop()
    if feat_dim is None:
        feat_dim = int(max(ids.max() for _, ids, _ in parts)) + 1
        _check_sparse(parts, feat_dim)
    for path, ids, _ in parts:
        _check_range(ids, feat_dim, path)
    names = tuple(field_names) if field_names is not None else tuple(f"f{i}" for i in range(width))
    if len(names) != width:
        raise DataError(parts[0][0], None, f"{len(names)} field names for {width} fields")
    all_ids = np.concatenate([ids for _, ids, _ in parts])
    cards = tuple(int(c) for c in all_ids.max(0) - all_ids.min(0) + 1)
    return tuple(Dataset(ids, labels, names, cards, feat_dim) for _, ids, labels in parts)
