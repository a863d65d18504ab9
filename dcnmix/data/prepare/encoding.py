"""Pass two: every row's ids and label appended to {split}.ids.npy / .labels.npy, and the
missing and out-of-vocabulary shares per split and field."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from ..featuremap import FeatureMap
from ..vocab import MISSING, OOV
from .options import SPLITS, PrepareOptions
from .rows import checked_rows
from .splits import Splitter


def npy_writer(path: str, dtype, shape):
    """An open file holding the .npy header of an array of this shape; the caller appends
    the rows' bytes in C order (memory stays flat, unlike a memory map being filled)."""
    fh = open(path, "wb")
    np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                              "shape": tuple(int(x) for x in shape)})
    return fh


class SplitWriter:
    """The open .ids.npy and .labels.npy of each split, with the rows written so far and the
    missing / out-of-vocabulary ids counted per field."""

    def __init__(self, folder: str, rows, fields: int):
        self.rows, self.filled = list(rows), [0, 0, 0]
        self.ids = [npy_writer(os.path.join(folder, f"{s}.ids.npy"), np.int32, (rows[i], fields))
                    for i, s in enumerate(SPLITS)]
        self.labels = [npy_writer(os.path.join(folder, f"{s}.labels.npy"), np.float32, (rows[i],))
                       for i, s in enumerate(SPLITS)]
        self.missing, self.oov = np.zeros((3, fields)), np.zeros((3, fields))

    def write(self, encoded: np.ndarray, local: np.ndarray, y: np.ndarray, split: np.ndarray):
        """One batch, its rows grouped by split in file order; stops at a split's row count
        (a file that grew is refused by close)."""
        order = np.argsort(split, kind="stable")
        encoded, local, y = encoded[order], local[order], y[order]
        bounds = np.searchsorted(split[order], [0, 1, 2, 3])
        for s in range(3):
            a, b = bounds[s], bounds[s + 1]
            if self.filled[s] + b - a > self.rows[s]:
                break
            self.ids[s].write(encoded[a:b].tobytes())
            self.labels[s].write(y[a:b].tobytes())
            self.missing[s] += (local[a:b] == MISSING).sum(0)
            self.oov[s] += (local[a:b] == OOV).sum(0)
            self.filled[s] += b - a

    def close(self, path: str) -> None:
        for fh in self.ids + self.labels:
            fh.close()
        if self.filled != self.rows:
            raise DataError(path, None, f"the file changed while it was read: {sum(self.rows):,} "
                                        f"rows counted, {sum(self.filled):,} on the second pass")

    def shares(self, names) -> dict:
        """{split: {field: {missing, oov}}}: shares of the split's rows, 6 decimals."""
        share = lambda count, i: round(float(count / max(self.rows[i], 1)), 6)
        return {s: {n: {"missing": share(self.missing[i, j], i), "oov": share(self.oov[i, j], i)}
                    for j, n in enumerate(names)} for i, s in enumerate(SPLITS)}


def encode_pass(opt: PrepareOptions, splitter: Splitter, fmap: FeatureMap, rows, folder: str,
                log) -> dict:
    """Every row's ids and label into {split}.ids.npy / .labels.npy; returns the missing and
    out-of-vocabulary shares per split and field."""
    writer, offsets = SplitWriter(folder, rows, len(fmap.fields)), fmap.offsets
    for _, _, batch, _, split, y in checked_rows(opt, splitter):
        encoded = fmap.encode(batch)
        writer.write(encoded, encoded - offsets, y, split)
        log(f"encoded {sum(writer.filled):,} of {sum(rows):,} rows")
    writer.close(opt.paths[0])
    return writer.shares(fmap.field_names)
