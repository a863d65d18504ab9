"""`dcnmix prepare`: raw files -> a prepared folder the trainers read without parsing.

    prepare(PrepareOptions(kind="criteo", paths=("train.txt",)), "prepared/criteo")

Reads with pyarrow's multithreaded C++ CSV reader (or its Parquet reader), streaming: one
block of rows at a time, so memory holds the vocabulary, not the file. Two passes: the first
counts the tokens of the training rows (pyarrow value counts, merged in C); the second
encodes every row (pyarrow index_in against the kept tokens) straight into memory-mapped
arrays. The output folder:

    feature_map.json              fields, tokens with counts, offsets, feat_dim, rows per split,
                                  split rule and seed, sources (size, sha256), out-of-vocabulary
                                  shares per field and split, the command
    {train,valid,test}.ids.npy    int32 [rows, fields], memory-mappable (np.load(mmap_mode='r'))
    {train,valid,test}.labels.npy float32 [rows]

Splits: three files; a split column (train / valid|validation / test); time order
(`order_by`: the earliest 80% of rows train, the next 10% validate); or a seeded random split
that needs no row count: row i goes to train / valid / test by a hash of (split_seed, i)
(80/10/10 in expectation). Bad input is a DataError naming the file and the line.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import threading
import time
from typing import Iterator

import numpy as np

from .errors import DataError
from .featuremap import FeatureMap, Field, key_token, numeric_keys
from .tabular import CRITEO_FIELDS, CRITEO_NUMERIC
from .textfile import check_unchanged, stamp

SPLITS = ("train", "valid", "test")
SOURCE_KINDS = ("criteo", "csv", "parquet", "libfm", "frappe")
SPLIT_NAMES = {"train": 0, "valid": 1, "validation": 1, "val": 1, "test": 2}
BLOCK = 1 << 24   # bytes of text per parsed block, pyarrow reader (about 70k Criteo rows)
ROWS_PER_BATCH = 200_000   # polars reader


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
    """What to read and how to split and encode it."""

    kind: str
    paths: tuple[str, ...]                  # one file, or three: train, valid, test
    label: str = "label"
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    delimiter: str = ","
    columns: tuple[str, ...] = ()           # names of a header-less CSV's columns
    min_count: int = 2
    split_column: str | None = None
    order_by: str | None = None
    split_seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    hash_buckets: tuple[tuple[str, int], ...] = ()   # categorical fields hashed into N buckets

    def __post_init__(self):
        for name in ("paths", "categorical", "numeric", "columns", "fractions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "hash_buckets", tuple((str(f), int(n)) for f, n in
                                                       dict(self.hash_buckets).items()))
        categorical = {n for n, k in self.fields if k == "hashed"}
        bad = [f for f, n in self.hash_buckets if f not in categorical or n < 1]
        if bad:
            raise ValueError(f"--hash-buckets {bad}: not categorical fields, or fewer than 1 bucket")
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r} (expected one of {SOURCE_KINDS})")
        if len(self.paths) not in (1, 3):
            raise ValueError(f"give one file, or three (train, valid, test); got {len(self.paths)}")
        if self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {self.min_count}")
        if self.split_column and self.order_by:
            raise ValueError("--split-column and --order-by are two different splits: give one")
        if len(self.paths) == 3 and (self.split_column or self.order_by):
            raise ValueError("three files are the split already: drop --split-column / --order-by")
        if self.kind == "csv" and not (self.categorical or self.numeric):
            raise ValueError("csv data needs --categorical and/or --numeric column names")
        overlap = set(self.categorical) & set(self.numeric)
        if self.label in (*self.categorical, *self.numeric) or overlap:
            raise ValueError(f"a column is listed twice (label {self.label!r}, categorical "
                             f"{self.categorical}, numeric {self.numeric})")

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """(name, kind) per field, in id order; kind categorical, hashed or numeric."""
        hashed = dict(self.hash_buckets)
        cat = lambda n: "hashed" if n in hashed else "categorical"
        if self.kind == "criteo":
            return tuple((n, "numeric" if n in CRITEO_NUMERIC else cat(n)) for n in CRITEO_FIELDS)
        return tuple([(c, cat(c)) for c in self.categorical] + [(c, "numeric") for c in self.numeric])

    def split_rule(self) -> dict:
        if len(self.paths) == 3:
            return {"how": "files"}
        if self.split_column:
            return {"how": "column", "column": self.split_column}
        if self.order_by:
            return {"how": "order", "column": self.order_by, "fractions": list(self.fractions)}
        return {"how": "hash", "seed": self.split_seed, "fractions": list(self.fractions)}


# ---------------------------------------------------------------------- reading
def _is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _wanted(opt: PrepareOptions, extra, with_label: bool) -> list[str]:
    names = [*([opt.label] if with_label else []), *(n for n, _ in opt.fields)]
    return names + [e for e in dict.fromkeys(extra) if e not in names]


def header(path: str, opt: PrepareOptions) -> list[str] | None:
    """The column names of a CSV (first line or --columns) or Parquet file; None for Criteo."""
    if opt.kind == "parquet":
        import pyarrow.parquet as pq
        return list(pq.ParquetFile(path).schema_arrow.names)
    if opt.kind == "csv" and opt.columns:
        return list(opt.columns)
    import csv
    import gzip
    with (gzip.open if _is_gzip(path) else open)(path, "rt", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\r\n")
    if opt.kind == "criteo":
        return None
    return next(csv.reader([first], delimiter=opt.delimiter), [])


def check_header(path: str, opt: PrepareOptions) -> bool:
    """Refuse a header that names a column this read uses twice (the readers would take one
    silently, a DataError); returns whether the file has the label column (Criteo: 40
    columns rather than 39)."""
    names = header(path, opt)
    if names is None:
        with (__import__("gzip").open if _is_gzip(path) else open)(path, "rb") as fh:
            return fh.readline().count(b"\t") != len(CRITEO_FIELDS) - 1
    wanted = set(_wanted(opt, (), True))
    twice = sorted({n for n in names if n in wanted and names.count(n) > 1})
    if twice:
        where = "; ".join(f"{n!r} at columns {[i + 1 for i, m in enumerate(names) if m == n]}"
                          for n in twice)
        raise DataError(path, 1 if opt.kind == "csv" and not opt.columns else None,
                        f"the header names a column more than once: {where}")
    return opt.label in names


def _csv_reader(path: str, opt: PrepareOptions, extra: tuple[str, ...], with_label: bool = True):
    """A pyarrow streaming CSV reader of the label, the fields and `extra` columns."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    want = _wanted(opt, extra, with_label)
    types = {opt.label: pa.float64()}
    types.update({n: (pa.float64() if k == "numeric" else pa.string()) for n, k in opt.fields})
    if opt.kind == "criteo":
        read = pcsv.ReadOptions(column_names=[*([opt.label] if with_label else []), *CRITEO_FIELDS],
                                block_size=BLOCK)
        parse = pcsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False)
    else:
        read = pcsv.ReadOptions(column_names=list(opt.columns) or None, block_size=BLOCK)
        parse = pcsv.ParseOptions(delimiter=opt.delimiter, newlines_in_values=True,
                                  ignore_empty_lines=False)
    # only an empty field is missing: "NA", "null", "nan" are tokens (or, as numbers, refused)
    convert = pcsv.ConvertOptions(column_types=types, include_columns=want, null_values=[""],
                                  strings_can_be_null=True, quoted_strings_can_be_null=True)
    stream = pa.input_stream(path, compression="gzip" if _is_gzip(path) else None)
    return pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)


def _polars_criteo(path: str, opt: PrepareOptions, extra: tuple[str, ...],
                   with_label: bool = True) -> Iterator:
    """polars DataFrames of a plain Criteo TSV from polars' streaming reader (no quoting;
    an empty field reads as null, i.e. missing)."""
    import polars as pl
    want = _wanted(opt, extra, with_label)
    kinds = dict(opt.fields)
    types = {n: (pl.Float64 if n == opt.label or kinds.get(n) == "numeric" else pl.String)
             for n in want}
    names = [*([opt.label] if with_label else []), *CRITEO_FIELDS]
    lf = pl.scan_csv(path, separator="\t", has_header=False, new_columns=names,
                     schema_overrides=types, quote_char=None, infer_schema=False)
    yield from lf.select(want).collect_batches(chunk_size=ROWS_PER_BATCH)


def iter_batches(path: str, opt: PrepareOptions, extra: tuple[str, ...] = (),
                 label_optional: bool = False) -> Iterator:
    """polars DataFrames of one file's rows, in order; parse errors become DataErrors.
    Plain Criteo files are parsed by polars (measured 2x pyarrow's streaming reader here,
    benchmarks/RESULTS.md "Data"; the column count of each line is checked beside it, see
    TabCounter); CSV (quotes, ragged rows refused) and gzip files by pyarrow's streaming
    reader (polars would decompress a whole gzip file in memory); Parquet by pyarrow."""
    import polars as pl
    import pyarrow as pa
    if not os.path.isfile(path):
        raise DataError(path, None, "no such file")
    try:
        with_label = check_header(path, opt) or not label_optional
        if opt.kind == "criteo" and not _is_gzip(path):
            yield from _polars_criteo(path, opt, extra, with_label)
            return
        if opt.kind == "parquet":
            import pyarrow.parquet as pq
            batches = pq.ParquetFile(path).iter_batches(batch_size=ROWS_PER_BATCH,
                                                       columns=_wanted(opt, extra, with_label))
        else:
            batches = _csv_reader(path, opt, extra, with_label)
        for batch in batches:
            yield pl.from_arrow(batch)
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError, EOFError) as exc:
        _locate(path, opt, exc)
    except Exception as exc:  # polars' errors (ComputeError, SchemaError, ...) share no base
        if type(exc).__module__.split(".")[0] != "polars":
            raise
        _locate(path, opt, exc)



def _locate(path: str, opt: PrepareOptions, exc: Exception):
    """Find the line behind a pyarrow error with the line-by-line reference reader (slow,
    only ever run on failure), else report the library's message."""
    if opt.kind in ("criteo", "csv") and not opt.columns and opt.delimiter == ",":
        from .tabular import read_criteo, read_csv
        if opt.kind == "criteo":
            read_criteo(path)
        else:
            read_csv(path, label=opt.label, categorical=opt.categorical, numeric=opt.numeric)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise DataError(path, None, f"cannot parse: {message}") from None


def _first_line(opt: PrepareOptions) -> int:
    """Line number of row 0 (1-based): after the header, if the file has one."""
    return 1 if opt.kind == "criteo" or opt.columns else 2


# ---------------------------------------------------------------------- splitting
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


class Splitter:
    """The split index of every row, batch by batch, for one PrepareOptions."""

    def __init__(self, opt: PrepareOptions):
        self.opt = opt
        self.order = None
        if opt.order_by:
            self.order = self._order_split()

    def extra(self) -> tuple[str, ...]:
        return tuple(c for c in (self.opt.split_column, self.opt.order_by) if c)

    def _order_split(self) -> np.ndarray:
        """Time order: the rows sorted by the column (stable); the first 80% train, the next
        10% validate. Holds the column for all rows (8 bytes a row)."""
        import polars as pl
        path, parts = self.opt.paths[0], []
        for batch in iter_batches(path, self.opt, (self.opt.order_by,)):
            col = batch[self.opt.order_by]
            if col.null_count():
                raise DataError(path, None, f"--order-by {self.opt.order_by}: empty values")
            if col.dtype == pl.String:      # ISO dates and times sort as text; numbers as numbers
                as_number = col.cast(pl.Float64, strict=False)
                col = as_number if as_number.null_count() == 0 else col.rank("dense")
            parts.append(col.cast(pl.Float64).to_numpy())
        values = np.concatenate(parts) if parts else np.zeros(0)
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
            values = batch[opt.split_column].to_list()
            names = {v: SPLIT_NAMES.get(str(v).strip().lower()) for v in set(values)}
            bad = [v for v, s in names.items() if s is None]
            if bad:
                row = next(i for i, v in enumerate(values) if v in bad)
                raise DataError(path, start + row + _first_line(opt),
                                f"split column {opt.split_column!r}: {values[row]!r} is not "
                                "train, valid (validation) or test")
            return np.array([names[v] for v in values], np.int8)
        return hashed_split(opt.split_seed, start, n, opt.fractions)


# ---------------------------------------------------------------------- checks and counts
def _labels(batch, opt: PrepareOptions, path: str, start: int) -> np.ndarray:
    """0/1 float32 labels (-1 reads as 0); anything else is a DataError with its line."""
    y = batch[opt.label].cast(__import__("polars").Float64).fill_null(float("nan")).to_numpy()
    bad = ~np.isin(y, (0.0, 1.0, -1.0))     # NaN (empty) included
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(path, start + row + _first_line(opt),
                        f"label {float(y[row]):g} is not one of -1, 0, 1" if np.isfinite(y[row])
                        else "label is empty or not a number")
    return (y == 1.0).astype(np.float32)


def _check_numeric(batch, opt: PrepareOptions, path: str, start: int) -> None:
    for name, kind in opt.fields:
        if kind != "numeric":
            continue
        column = batch[name]
        v = column.fill_null(0).to_numpy()
        bad = ~np.isfinite(v)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(path, start + row + _first_line(opt),
                            f"field {name}: {float(v[row]):g} is not a finite number")


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
            if kind == "hashed":
                continue
            col = train[name].drop_nulls()
            if kind == "numeric":
                col = pl.Series("values", numeric_keys(col.to_numpy()))
            counts = col.rename("values").value_counts(name="counts")
            self.pending[i].append(counts.with_columns(pl.col("counts").cast(pl.Int64)))
            if len(self.pending[i]) >= 16:
                self.pending[i] = [self._merge(self.pending[i])]

    @staticmethod
    def _merge(parts):
        import polars as pl
        return pl.concat(parts).group_by("values").agg(pl.col("counts").sum())

    def fields_kept(self, min_count: int, buckets: dict) -> tuple[Field, ...]:
        import polars as pl
        out = []
        for i, (name, kind) in enumerate(self.fields):
            if kind == "hashed":
                out.append(Field(name, kind, buckets=buckets[name]))
                continue
            if not self.pending[i]:
                out.append(Field(name, kind))
                continue
            merged = self._merge(self.pending[i]).filter(pl.col("counts") >= min_count)
            if kind == "numeric":
                merged = merged.with_columns(pl.col("values").map_elements(
                    lambda k: key_token(int(k)), return_dtype=pl.String))
            kept = merged.sort(["counts", "values"], descending=[True, False])
            out.append(Field(name, kind, tuple(kept["values"].to_list()),
                             tuple(kept["counts"].to_list())))
        return tuple(out)


# ---------------------------------------------------------------------- the two passes
class TabCounter:
    """Tabs per line of a Criteo file, vectorised: polars fills a short row's missing
    columns with nulls, so a row with the wrong number of columns is caught here (the first
    one, as a 1-based line)."""

    def __init__(self, expected: int):
        self.expected, self.line, self.carry, self.bad = expected, 0, 0, None

    def update(self, block: bytes) -> None:
        if self.bad is not None or not block:
            return
        data = np.frombuffer(block, np.uint8)
        ends, tabs = np.flatnonzero(data == 10), np.flatnonzero(data == 9)
        before = np.searchsorted(tabs, ends)          # tabs before each line end
        per_line = np.diff(before, prepend=0)
        if len(ends):
            per_line[0] += self.carry
            wrong = np.flatnonzero(per_line != self.expected)
            if wrong.size:
                self.bad = (self.line + int(wrong[0]) + 1, int(per_line[wrong[0]]) + 1)
            self.carry = len(tabs) - int(before[-1])
        else:
            self.carry += len(tabs)
        self.line += len(ends)

    def finish(self, last_byte_newline: bool) -> None:
        if self.bad is None and not last_byte_newline and self.carry != self.expected:
            self.bad = (self.line + 1, self.carry + 1)


def _scan_sources(paths, opt: PrepareOptions) -> tuple[threading.Thread, dict]:
    """sha256 and size of each source, and (Criteo) the column count of every line,
    computed beside the parsing (hashlib and numpy free the GIL)."""
    out: dict = {}

    def work():
        for path in paths:
            h, counter, last, size = hashlib.sha256(), TabCounter(len(CRITEO_FIELDS)), b"\n", 0
            check = opt.kind == "criteo" and not _is_gzip(path)
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 24), b""):
                    h.update(block)
                    size += len(block)
                    if check:
                        counter.update(block)
                    last = block[-1:]
            counter.finish(last == b"\n")
            out[path] = {"path": os.path.abspath(path), "size": size,
                         "sha256": h.hexdigest(), "bad_line": counter.bad if check else None}
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, out


def _check_scan(thread, sources, stamps) -> None:
    thread.join()
    for path, info in sources.items():
        if info["size"] != stamps[path][0]:
            raise DataError(path, None, f"the file changed while it was read ({stamps[path][0]:,} "
                                        f"bytes at the start, {info['size']:,} hashed)")
        bad = info.pop("bad_line", None)
        if bad:
            raise DataError(path, bad[0], f"row has {bad[1]} tab-separated columns, expected "
                                          f"{len(CRITEO_FIELDS) + 1} (label, I1-I13, C1-C26)")


def _passes(opt: PrepareOptions, splitter: Splitter):
    """Yield (file index, path, batch, first row, split per row, labels) over every file."""
    for index, path in enumerate(opt.paths):
        start = 0
        for batch in iter_batches(path, opt, splitter.extra()):
            labels = _labels(batch, opt, path, start)
            _check_numeric(batch, opt, path, start)
            yield index, path, batch, start, splitter(index, batch, start, path), labels
            start += batch.height
        if start == 0:
            raise DataError(path, None, "file holds no rows")


def count_pass(opt: PrepareOptions, splitter: Splitter, log) -> tuple[tuple[Field, ...], list[int]]:
    counts, rows = TokenCounts(opt.fields), [0, 0, 0]
    for _, _, batch, start, split, _ in _passes(opt, splitter):
        counts.add(batch, split == 0)
        rows = [r + int((split == s).sum()) for s, r in enumerate(rows)]
        log(f"counted {sum(rows):,} rows")
    return counts.fields_kept(opt.min_count, dict(opt.hash_buckets)), rows


def encode_pass(opt: PrepareOptions, splitter: Splitter, fmap: FeatureMap, rows, folder: str,
                log) -> dict:
    """Every row's ids and label into {split}.ids.npy / .labels.npy; returns the missing and
    out-of-vocabulary shares per split and field."""
    fields = len(fmap.fields)
    ids = [_npy_writer(os.path.join(folder, f"{s}.ids.npy"), np.int32, (rows[i], fields))
           for i, s in enumerate(SPLITS)]
    labels = [_npy_writer(os.path.join(folder, f"{s}.labels.npy"), np.float32, (rows[i],))
              for i, s in enumerate(SPLITS)]
    filled, missing, oov = [0, 0, 0], np.zeros((3, fields)), np.zeros((3, fields))
    offsets = fmap.offsets
    for _, _, batch, _, split, y in _passes(opt, splitter):
        order = np.argsort(split, kind="stable")     # the rows of each split, in file order
        encoded, y = fmap.encode(batch)[order], y[order]
        local = encoded - offsets
        bounds = np.searchsorted(split[order], [0, 1, 2, 3])
        for s in range(3):
            a, b = bounds[s], bounds[s + 1]
            if filled[s] + b - a > rows[s]:
                break
            ids[s].write(encoded[a:b].tobytes())
            labels[s].write(y[a:b].tobytes())
            missing[s] += (local[a:b] == 0).sum(0)
            oov[s] += (local[a:b] == 1).sum(0)
            filled[s] += b - a
        log(f"encoded {sum(filled):,} of {sum(rows):,} rows")
    for fh in ids + labels:
        fh.close()
    if filled != list(rows):
        raise DataError(opt.paths[0], None, f"the file changed while it was read: {sum(rows):,} "
                                            f"rows counted, {sum(filled):,} on the second pass")
    return {s: {n: {"missing": round(float(missing[i, j] / max(rows[i], 1)), 6),
                    "oov": round(float(oov[i, j] / max(rows[i], 1)), 6)}
                for j, n in enumerate(fmap.field_names)} for i, s in enumerate(SPLITS)}


def _npy_writer(path: str, dtype, shape):
    """An open file holding the .npy header of an array of this shape; the caller appends
    the rows' bytes in C order (memory stays flat, unlike a memory map being filled)."""
    fh = open(path, "wb")
    np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                              "shape": tuple(int(x) for x in shape)})
    return fh


def prepare(opt: PrepareOptions, out: str, *, command: str | None = None, log=None) -> FeatureMap:
    """Prepare `opt`'s data into the folder `out` (see the module docstring); returns the
    feature map. The folder is complete once feature_map.json exists (written last)."""
    if opt.kind in ("libfm", "frappe"):
        from .prepared import prepare_libfm
        return prepare_libfm(opt, out, command=command, log=log)
    log = log or (lambda *_: None)
    t0 = time.time()
    present = [p for p in opt.paths if os.path.isfile(p)]
    stamps = {p: stamp(p) for p in present}
    scanning, sources = _scan_sources(present, opt)
    splitter = Splitter(opt)
    fields, rows = count_pass(opt, splitter, log)
    _check_scan(scanning, sources, stamps)
    if rows[0] == 0:
        raise DataError(opt.paths[0], None, "no training rows (check the split)")
    fmap = FeatureMap(fields, opt.min_count, opt.label)
    tmp = _fresh(out)
    oov = encode_pass(opt, splitter, fmap, rows, tmp, log)
    for path, before in stamps.items():
        check_unchanged(path, before)
    info = {"rows": dict(zip(SPLITS, rows)), "split": opt.split_rule(),
            "sources": [sources[p] for p in opt.paths], "kind": opt.kind,
            "options": {k: v for k, v in dataclasses.asdict(opt).items() if k not in ("kind", "paths")},
            "oov": oov, "command": command or " ".join(sys.argv),
            "seconds": round(time.time() - t0, 2)}
    fmap = dataclasses.replace(fmap, info=info)
    return _finish(tmp, out, fmap)


def _fresh(out: str) -> str:
    """An empty working folder beside `out` (renamed over it when complete)."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(out)), f".tmp-prepare-{os.path.basename(out)}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def _finish(tmp: str, out: str, fmap: FeatureMap) -> FeatureMap:
    fmap.save(os.path.join(tmp, "feature_map.json"))
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.replace(tmp, out)
    return fmap


def report(fmap: FeatureMap, threshold: float = 0.01, most: int = 12) -> str:
    """What prepare prints: rows per split, feat_dim, and the fields whose validation or test
    rows got the out-of-vocabulary id more often than `threshold` (worst first)."""
    rows = fmap.info.get("rows", {})
    lines = [f"{' / '.join(f'{rows.get(s, 0):,}' for s in SPLITS)} rows (train / valid / test), "
             f"{len(fmap.fields)} fields, {fmap.feat_dim:,} ids (min_count {fmap.min_count})"]
    oov = fmap.info.get("oov", {})
    worst = sorted(((max(oov[s][n]["oov"] for s in ("valid", "test")), n) for n in fmap.field_names
                    if n in oov.get("valid", {})), reverse=True)
    worst = [(w, n) for w, n in worst if w > threshold]
    if worst:
        lines.append("out-of-vocabulary id (share of rows; feature_map.json has every field):")
        lines += [f"  {n:>12}: valid {oov['valid'][n]['oov']:6.1%}  test {oov['test'][n]['oov']:6.1%}"
                  f"  (missing {oov['test'][n]['missing']:.1%})" for _, n in worst[:most]]
        if len(worst) > most:
            lines.append(f"  ... and {len(worst) - most} more fields above {threshold:.0%}")
    return "\n".join(lines)
