"""Reading a source file in blocks of rows, one reader per source kind (SOURCES): the
header check, the batches (polars DataFrames) and, when a C reader fails, the line behind
its error.

Plain Criteo files are parsed by polars (measured 2x pyarrow's streaming reader here,
benchmarks/RESULTS.md "Data"; the column count of each line is checked beside it, see
scan.TabCounter); CSV (quotes, ragged rows refused) and gzip files by pyarrow's streaming
reader (polars would decompress a whole gzip file in memory); Parquet by pyarrow.
"""
from __future__ import annotations

import gzip
import os
from typing import Iterator

from ..errors import DataError, not_a_file
from ..fieldkinds import KINDS
from ..tabular import CRITEO_FIELDS, read_criteo, read_csv
from .options import PrepareOptions

BLOCK = 1 << 24   # bytes of text per parsed block, pyarrow reader (about 70k Criteo rows)
ROWS_PER_BATCH = 200_000   # polars reader


def is_gzip(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open(path: str, mode: str = "rb"):
    """A plain or gzip file (text mode drops a UTF-8 byte-order mark, as pyarrow's reader
    does, and replaces undecodable bytes: only a header is read)."""
    if "t" in mode:
        return (gzip.open if is_gzip(path) else open)(path, mode, encoding="utf-8-sig",
                                                      errors="replace")
    return (gzip.open if is_gzip(path) else open)(path, mode)


def wanted(opt: PrepareOptions, extra, with_label: bool) -> list[str]:
    """The columns a read takes: the label (if read), the fields, then `extra`."""
    names = [*([opt.label] if with_label else []), *(n for n, _ in opt.fields)]
    return names + [e for e in dict.fromkeys(extra) if e not in names]


def _numbers(opt: PrepareOptions) -> set[str]:
    """The columns read as float64: the label and the fields whose kind reads numbers."""
    return {opt.label, *(n for n, k in opt.fields if KINDS[k].reads_numbers)}


def _arrow_csv(path: str, opt: PrepareOptions, want: list[str], read, parse,
               numbers=frozenset()) -> Iterator:
    """polars DataFrames from pyarrow's streaming CSV reader of the `want` columns, those in
    `numbers` as float64, the others as text (a field's kind parses its numbers: text in a
    numeric or dense column is refused with its line, dcnmix.data.prepare.rows)."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.csv as pcsv
    types = {n: (pa.float64() if n in numbers else pa.string())
             for n in (opt.label, *(n for n, _ in opt.fields))}
    # only an empty field is missing: "NA", "null", "nan" are tokens (or, as numbers, refused)
    convert = pcsv.ConvertOptions(column_types=types, include_columns=want, null_values=[""],
                                  strings_can_be_null=True, quoted_strings_can_be_null=True)
    stream = pa.input_stream(path, compression="gzip" if is_gzip(path) else None)
    for batch in pcsv.open_csv(stream, read_options=read, parse_options=parse,
                               convert_options=convert):
        yield pl.from_arrow(batch)


class CriteoReader:
    """Criteo TSV: (label,) I1-I13, C1-C26; no header, no quoting, an empty field missing."""

    def names(self, path: str, opt: PrepareOptions) -> list[str] | None:
        return None            # no header: has_label counts the first line's columns

    def has_label(self, path: str) -> bool:
        """40 columns rather than 39."""
        with _open(path) as fh:
            return fh.readline().count(b"\t") != len(CRITEO_FIELDS) - 1

    def first_line(self, opt: PrepareOptions) -> int:
        return 1

    def batches(self, path: str, opt: PrepareOptions, want: list[str], with_label: bool):
        import pyarrow.csv as pcsv
        names = [*([opt.label] if with_label else []), *CRITEO_FIELDS]
        if not is_gzip(path):
            return self._polars(path, opt, want, names)
        read = pcsv.ReadOptions(column_names=names, block_size=BLOCK)
        parse = pcsv.ParseOptions(delimiter="\t", quote_char=False, ignore_empty_lines=False)
        return _arrow_csv(path, opt, want, read, parse, _numbers(opt))

    @staticmethod
    def _polars(path: str, opt: PrepareOptions, want: list[str], names: list[str]) -> Iterator:
        """polars' streaming reader of a plain Criteo TSV (no quoting; an empty field reads
        as null, i.e. missing)."""
        import polars as pl
        numbers = _numbers(opt)
        types = {n: (pl.Float64 if n in numbers else pl.String) for n in want}
        lf = pl.scan_csv(path, separator="\t", has_header=False, new_columns=names,
                         schema_overrides=types, quote_char=None, infer_schema=False)
        yield from lf.select(want).collect_batches(chunk_size=ROWS_PER_BATCH)

    def locate(self, path: str, opt: PrepareOptions) -> None:
        read_criteo(path)


class CsvReader:
    """CSV with a header line (or --columns): quoted fields, any delimiter, plain or gzip."""

    def names(self, path: str, opt: PrepareOptions) -> list[str]:
        import csv
        if opt.columns:
            return list(opt.columns)
        with _open(path, "rt") as fh:
            first = fh.readline().rstrip("\r\n")
        return next(csv.reader([first], delimiter=opt.delimiter), [])

    def header_line(self, opt: PrepareOptions) -> int | None:
        return None if opt.columns else 1

    def first_line(self, opt: PrepareOptions) -> int:
        return 1 if opt.columns else 2

    def batches(self, path: str, opt: PrepareOptions, want: list[str], with_label: bool):
        import pyarrow.csv as pcsv
        read = pcsv.ReadOptions(column_names=list(opt.columns) or None, block_size=BLOCK)
        parse = pcsv.ParseOptions(delimiter=opt.delimiter, newlines_in_values=True,
                                  ignore_empty_lines=False)
        return _arrow_csv(path, opt, want, read, parse)

    def locate(self, path: str, opt: PrepareOptions) -> None:
        read_csv(path, label=opt.label, categorical=opt.categorical, numeric=opt.numeric)


class ParquetReader:
    """Parquet, by pyarrow, in row batches of the wanted columns."""

    def names(self, path: str, opt: PrepareOptions) -> list[str]:
        import pyarrow.parquet as pq
        return list(pq.ParquetFile(path).schema_arrow.names)

    def header_line(self, opt: PrepareOptions) -> None:
        return None

    def first_line(self, opt: PrepareOptions) -> int:
        return 2               # as a CSV's: row 0 is "line" 2

    def batches(self, path: str, opt: PrepareOptions, want: list[str], with_label: bool):
        import polars as pl
        import pyarrow.parquet as pq
        for batch in pq.ParquetFile(path).iter_batches(batch_size=ROWS_PER_BATCH, columns=want):
            yield pl.from_arrow(batch)

    def locate(self, path: str, opt: PrepareOptions) -> None:
        pass                   # no line-by-line reader: the library's message stands


SOURCES = {"criteo": CriteoReader(), "csv": CsvReader(), "parquet": ParquetReader()}


LIKELY_DELIMITERS = (";", "\t", "|", ",")


def check_columns(path: str, opt: PrepareOptions, names: list[str], want: list[str]) -> None:
    """A DataError naming the first columns a read needs that the header lacks, with a hint
    when the header reads as one column holding a likely delimiter."""
    missing = [n for n in want if n not in names]
    if not missing:
        return
    shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
    message = f"no column {missing[0]!r}" + (f" (nor {missing[1:]})" if missing[1:] else "") + \
        f"; the header has {len(names)} column(s): {shown}"
    found = [d for d in LIKELY_DELIMITERS if len(names) == 1 and d in names[0] and d != opt.delimiter]
    if found:
        escaped = {"\t": "'\\t'"}.get(found[0], repr(found[0]))
        message += f"; the file looks {escaped}-separated: --delimiter {escaped}"
    raise DataError(path, SOURCES[opt.kind].header_line(opt), message)


def check_header(path: str, opt: PrepareOptions, extra=(), label_optional: bool = False) -> bool:
    """Refuse a header that names a column this read uses twice (the readers would take one
    silently) or lacks one it needs (DataErrors); returns whether the file has the label
    column (Criteo: 40 columns rather than 39)."""
    source = SOURCES[opt.kind]
    names = source.names(path, opt)
    if names is None:
        return source.has_label(path)
    check_columns(path, opt, names, wanted(opt, extra, not label_optional or opt.label in names))
    want = set(wanted(opt, (), True))
    twice = sorted({n for n in names if n in want and names.count(n) > 1})
    if twice:
        where = "; ".join(f"{n!r} at columns {[i + 1 for i, m in enumerate(names) if m == n]}"
                          for n in twice)
        raise DataError(path, source.header_line(opt),
                        f"the header names a column more than once: {where}")
    return opt.label in names


def first_line(opt: PrepareOptions) -> int:
    """Line number of row 0 (1-based): after the header, if the file has one."""
    return SOURCES[opt.kind].first_line(opt)


def iter_batches(path: str, opt: PrepareOptions, extra: tuple[str, ...] = (),
                 label_optional: bool = False) -> Iterator:
    """polars DataFrames of one file's rows, in order; parse errors become DataErrors."""
    import pyarrow as pa
    if not os.path.isfile(path):
        raise DataError(path, None, not_a_file(path))
    source = SOURCES[opt.kind]
    try:
        with_label = check_header(path, opt, extra, label_optional) or not label_optional
        yield from source.batches(path, opt, wanted(opt, extra, with_label), with_label)
    except (pa.ArrowInvalid, pa.ArrowKeyError, OSError, EOFError) as exc:
        _locate(path, opt, exc)
    except Exception as exc:  # polars' errors (ComputeError, SchemaError, ...) share no base
        if type(exc).__module__.split(".")[0] != "polars":
            raise
        _locate(path, opt, exc)


def _locate(path: str, opt: PrepareOptions, exc: Exception):
    """Find the line behind a C reader's error with the line-by-line reference reader (slow,
    only ever run on failure; it raises the DataError with the line), else report the
    library's message."""
    if not opt.columns and opt.delimiter == ",":
        SOURCES[opt.kind].locate(path, opt)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise DataError(path, None, f"cannot parse: {message}") from None
