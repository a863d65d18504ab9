"""Pass two: every row's ids and label appended to {split}.ids.npy / .labels.npy (and its
dense values and multi-valued ids to {split}.dense.npy / .multi.npy), and the missing and
out-of-vocabulary shares per split and field (multi-valued: of elements; truncated rows)."""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from ..featuremap import FeatureMap
from ..fieldkinds import OverLength
from ..vocab import MISSING, OOV
from .options import SPLITS, PrepareOptions
from .readers import first_line
from .rows import checked_rows
from .splits import Splitter


def npy_writer(path: str, dtype, shape):
    """An open file holding the .npy header of an array of this shape; the caller appends
    the rows' bytes in C order (memory stays flat, unlike a memory map being filled)."""
    fh = open(path, "wb")
    np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                              "shape": tuple(int(x) for x in shape)})
    return fh


def raw_bytes(array: np.ndarray) -> memoryview:
    """The array's bytes in C order, without a copy when it is C-contiguous already."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data


class SplitWriter:
    """The open .ids.npy and .labels.npy of each split, with the rows written so far and the
    missing / out-of-vocabulary ids counted per field."""

    def __init__(self, folder: str, rows, fmap: FeatureMap):
        self.rows, self.filled = list(rows), [0, 0, 0]
        shapes = {"ids": (np.int32, (len(fmap.id_names),)), "labels": (np.float32, ())}
        if fmap.dense_names:
            shapes["dense"] = (np.float32, (len(fmap.dense_names),))
        if fmap.multi_names:
            shapes["multi"] = (np.int32, (len(fmap.multi_names), fmap.max_len))
        self.files = {name: [npy_writer(os.path.join(folder, f"{s}.{name}.npy"), dtype,
                                        (rows[i],) + shape) for i, s in enumerate(SPLITS)]
                      for name, (dtype, shape) in shapes.items()}
        self.counted = Shares(fmap, self.rows)

    def write(self, arrays: dict, local: np.ndarray, split: np.ndarray, raw=None):
        """One batch ({ids, labels, dense?, multi?}), its rows grouped by split in file order;
        stops at a split's row count (a file that grew is refused by close)."""
        order = np.argsort(split, kind="stable")
        arrays = {k: v[order] for k, v in arrays.items()}
        local = local[order]
        bounds = np.searchsorted(split[order], [0, 1, 2, 3])
        for s in range(3):
            a, b = bounds[s], bounds[s + 1]
            if not self.append(s, {k: v[a:b] for k, v in arrays.items()}, local[a:b]):
                break
        if raw is not None:
            self.counted.typed.add(raw, arrays, split[order])

    def append(self, s: int, arrays: dict, local: np.ndarray) -> bool:
        """Rows of split `s` appended (False, nothing written, past the split's row count)."""
        if self.filled[s] + len(local) > self.rows[s]:
            return False
        for name, files in self.files.items():
            files[s].write(raw_bytes(arrays[name]))
        self.counted.add(s, local)
        self.filled[s] += len(local)
        return True

    def close(self, path: str) -> None:
        for files in self.files.values():
            for fh in files:
                fh.close()
        if self.filled != self.rows:
            raise DataError(path, None, f"the file changed while it was read: {sum(self.rows):,} "
                                        f"rows counted, {sum(self.filled):,} on the second pass")

    def shares(self, names) -> dict:
        return self.counted.shares(names)


class Shares:
    """The missing and out-of-vocabulary ids counted per split and field (`add`), and the
    typed fields' (`typed`, TypedShares), as shares of each split's `rows`."""

    def __init__(self, fmap: FeatureMap, rows):
        self.rows = list(rows)
        fields = len(fmap.id_names)
        self.missing, self.oov = np.zeros((3, fields)), np.zeros((3, fields))
        self.typed = TypedShares(fmap)

    def add(self, s: int, local: np.ndarray) -> None:
        self.missing[s] += (local == MISSING).sum(0)
        self.oov[s] += (local == OOV).sum(0)

    def shares(self, names) -> dict:
        """{split: {field: {missing, oov}}}: shares of the split's rows, 6 decimals (a
        multi-valued field's oov: of its elements; `truncated`: rows cut to max_len)."""
        share = lambda count, i: round(float(count / max(self.rows[i], 1)), 6)
        out = {s: {n: {"missing": share(self.missing[i, j], i), "oov": share(self.oov[i, j], i)}
                   for j, n in enumerate(names)} for i, s in enumerate(SPLITS)}
        for i, s in enumerate(SPLITS):
            out[s].update(self.typed.shares(i, self.rows[i]))
        return out


class TypedShares:
    """Per split and typed field: rows missing (dense: null; multi-valued: no element), and
    for multi-valued fields the elements out of vocabulary and the rows truncated."""

    def __init__(self, fmap: FeatureMap):
        self.fmap = fmap
        self.counts = {}        # (split, field, what) -> count

    def tally(self, s: int, name: str, what: str, value) -> None:
        self.counts[s, name, what] = self.counts.get((s, name, what), 0) + int(value)

    def add(self, raw, arrays: dict, split: np.ndarray) -> None:
        fmap = self.fmap
        for j, i in enumerate(fmap.of_role("multi")):
            f = fmap.fields[i]
            ids = arrays["multi"][:, j]
            local = np.where(ids >= 0, ids - fmap.offsets[i], -1)
            lengths = raw[j]
            for s in range(3):
                rows = split == s
                self.tally(s, f.name, "missing", (local[rows, 0] == MISSING).sum())
                self.tally(s, f.name, "elements", (local[rows] > MISSING).sum())
                self.tally(s, f.name, "oov", (local[rows] == OOV).sum())
                self.tally(s, f.name, "truncated", (lengths[rows] > f.max_len).sum())
        for j, i in enumerate(fmap.of_role("dense")):
            name = fmap.fields[i].name
            for s in range(3):
                self.tally(s, name, "missing", raw[len(fmap.multi_names) + j][split == s].sum())

    def shares(self, s: int, rows: int) -> dict:
        get = lambda name, what: self.counts.get((s, name, what), 0)
        out = {}
        for i in self.fmap.of_role("multi") + self.fmap.of_role("dense"):
            f = self.fmap.fields[i]
            out[f.name] = {"missing": round(get(f.name, "missing") / max(rows, 1), 6)}
            if f.role == "multi":
                out[f.name]["oov"] = round(get(f.name, "oov") / max(get(f.name, "elements"), 1), 6)
                out[f.name]["truncated"] = round(get(f.name, "truncated") / max(rows, 1), 6)
        return out


def raw_facts(fmap: FeatureMap, batch) -> list:
    """Per multi-valued field its list lengths, then per dense field its missing rows: what
    TypedShares counts of a batch's raw columns."""
    from ..fieldkinds import KINDS, as_numbers
    out = []
    for i in fmap.of_role("multi"):
        f = fmap.fields[i]
        out.append(KINDS[f.kind].lists(batch[f.name], f.sep).list.len().fill_null(0).to_numpy())
    for i in fmap.of_role("dense"):
        out.append(as_numbers(batch[fmap.fields[i].name]).is_null().to_numpy())
    return out


def encode_pass(opt: PrepareOptions, splitter: Splitter, fmap: FeatureMap, rows, folder: str,
                log) -> dict:
    """Every row's ids and label into {split}.ids.npy / .labels.npy; returns the missing and
    out-of-vocabulary shares per split and field."""
    writer = SplitWriter(folder, rows, fmap)
    offsets = fmap.offsets[list(fmap.of_role("ids"))]
    typed = bool(fmap.dense_names or fmap.multi_names)
    for _, path, batch, start, split, y in checked_rows(opt, splitter):
        encoded = fmap.encode(batch)
        try:
            arrays = {"ids": encoded, "labels": y, **fmap.encode_typed(batch)}
        except OverLength as exc:
            raise DataError(path, start + exc.row + first_line(opt), str(exc)) from None
        writer.write(arrays, encoded - offsets, split, raw_facts(fmap, batch) if typed else None)
        log(f"encoded {sum(writer.filled):,} of {sum(rows):,} rows")
    writer.close(opt.paths[0])
    return writer.shares(fmap.id_names)
