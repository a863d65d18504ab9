"""The Spark engine of `dcnmix prepare` (`--engine spark`): the polars engine's feature map
and rows, computed by a Spark cluster (`local[N]` on one machine, or any master).

Spark reads each file as lines, cuts it into blocks over its executors and runs the
aggregations; the executors parse, check, split and encode their lines with dcnmix's own
code (the polars CSV parser, dcnmix.data.prepare.rows, the field kinds' Fitters and the
FeatureMap), so both engines give the same answer. The jobs:

  1. lines per block (a group-by): the row number of every line (block start + place), so
     the seeded hash split and the error lines are the polars engine's
  2. --order-by only: the sort keys, range-partitioned and sorted by Spark; the rows at the
     split's two boundaries
  3. fit: per partition each field's Fitter over its training rows; the parts' value counts
     summed by a Spark group-by (kept min_count times where the kind keeps only those, so
     the driver collects the vocabulary, not every token), the parts' scalars merged on the
     driver (Fitter.absorb); rows per split, label values, the first bad line
  4. encode: the FeatureMap (broadcast) encodes each partition's lines; each partition
     writes its rows of each split as one shard into the output's working folder (which the
     executors must see: a local or shared file system) and returns its counts of missing
     and out-of-vocabulary ids; the driver numbers the shards in file order (manifest.json,
     dcnmix.data.shards)

pyspark is the optional extra `spark`. CSV fields may not hold line breaks (Spark splits
files at lines); Parquet, libfm and gzip-compressed CSV quoting rules are the polars
engine's only (docs/data.md "Spark").
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import time
import warnings

import numpy as np

from ..errors import DataError
from ..featuremap import FeatureMap
from ..fieldkinds import KINDS, OverLength
from ..shards import file_sha256, shard_name, write_manifest
from ..tabular import CRITEO_FIELDS
from ..textfile import check_unchanged, stamp
from .counting import fit_rows
from .encoding import Shares, raw_facts
from .options import SPLITS, PrepareOptions
from .readers import SOURCES, _numbers, check_header, first_line, is_gzip, wanted
from .rows import check_fields, labels
from .scan import check_scan, scan_sources
from .splits import Splitter, sort_keys

SPARK_KINDS = ("criteo", "csv")
RECORD = "what string, field long, text string, number double, count long"
ROWS_PER_ARROW_BATCH = 100_000


def session(master: str | None = None):
    """A SparkSession for prepare (local[*] unless `master`); a one-line error naming the
    extra when pyspark is not installed."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError("--engine spark needs pyspark: pip install 'dcnmix[spark]' (and Java "
                           "17 or later on the machine)") from None
    builder = SparkSession.builder.master(master or "local[*]").appName("dcnmix prepare")
    # the executors run this Python (and its dcnmix) unless PYSPARK_PYTHON says otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    for key, value in {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                       "spark.sql.execution.arrow.maxRecordsPerBatch": ROWS_PER_ARROW_BATCH,
                       "spark.driver.memory": os.environ.get("DCNMIX_SPARK_DRIVER_MEMORY", "2g")
                       }.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class Source:
    """One input file as Spark sees it: its lines with their block, and what the executors
    need to parse them like the polars engine (column names, header, row numbers)."""

    def __init__(self, index: int, path: str, opt: PrepareOptions, extra: tuple):
        self.index, self.path, self.opt = index, path, opt
        if is_gzip(path) and not path.endswith(".gz"):
            raise DataError(path, None, "is gzip-compressed but not named .gz: Spark decompresses "
                                        "by the name; rename it FILE.gz")
        with_label = check_header(path, opt, extra)
        if opt.kind == "criteo":
            self.names = [*([opt.label] if with_label else []), *CRITEO_FIELDS]
        else:
            self.names = SOURCES[opt.kind].names(path, opt)
        self.header = opt.kind == "csv" and not opt.columns
        self.want = wanted(opt, extra, with_label)
        self.starts: dict = {}         # block -> physical line index of its first line

    def lines(self, spark):
        from pyspark.sql import functions as F
        return spark.read.text(self.path).select(
            "value", F.input_file_block_start().alias("block"))

    def number_lines(self, spark) -> int:
        """Job 1: lines per block -> each block's first line; returns the file's rows."""
        counts = sorted((r["block"], r["count"]) for r in
                        self.lines(spark).groupBy("block").count().collect())
        total = 0
        for block, count in counts:
            self.starts[block] = total
            total += count
        rows = total - int(self.header and total > 0)
        if rows <= 0:
            raise DataError(self.path, None, "file holds no rows")
        return rows


def _joined(lines) -> bytes:
    """An Arrow string array of lines as one text, a newline after each (no Python strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    whole = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()),
                                                    lines.cast(pa.string())), "\n")
    return whole[0].as_buffer().to_pybytes() + b"\n"


def _parse(source: Source, lines, start: int):
    """A polars DataFrame of these lines (an Arrow string array; rows start.. of the file),
    read as the polars engine's reader reads them (the fields' text; the number columns of a
    Criteo file parsed)."""
    import polars as pl
    opt = source.opt
    if opt.kind == "criteo":
        tabs = pl.from_arrow(lines).str.count_matches("\t").to_numpy()
        bad = np.flatnonzero(tabs != len(source.names) - 1)
        if bad.size:
            raise DataError(source.path, start + int(bad[0]) + 1,
                            f"row has {int(tabs[bad[0]]) + 1} tab-separated columns, expected "
                            f"{len(source.names)} (label, I1-I13, C1-C26)")
    numbers = _numbers(opt) if opt.kind == "criteo" else set()
    types = {n: (pl.Float64 if n in numbers else pl.String) for n in source.names}
    try:
        frame = pl.read_csv(io.BytesIO(_joined(lines)), has_header=False,
                            new_columns=source.names, schema_overrides=types, infer_schema=False,
                            separator="\t" if opt.kind == "criteo" else opt.delimiter,
                            quote_char=None if opt.kind == "criteo" else '"')
    except Exception as exc:
        line = start + first_line(opt)
        raise DataError(source.path, line, f"cannot parse the lines from here to line "
                                           f"{line + len(lines) - 1}: "
                                           f"{str(exc).splitlines()[0]}") from None
    frame = frame.select(source.want)
    text = [n for n in source.want if types.get(n, pl.String) == pl.String]
    return frame.with_columns(pl.col(n).replace("", None) for n in text)


def _blocks(source: Source, batches):
    """(rows frame, first row) of each run of one block's lines in these Arrow batches, the
    rows numbered as the polars engine numbers them (from 0 after any header line)."""
    done: dict = {}
    for batch in batches:
        values = batch.column(0)
        blocks = batch.column(1).to_numpy()
        cuts = np.flatnonzero(np.diff(blocks)) + 1
        for a, b in zip([0, *cuts], [*cuts, len(blocks)]):
            block = int(blocks[a])
            line = source.starts[block] + done.get(block, 0)
            done[block] = done.get(block, 0) + (b - a)
            lines = values.slice(a, b - a)
            if source.header and line == 0:
                lines, line = lines.slice(1), 1
            if len(lines):
                yield _parse(source, lines, line - int(source.header)), line - int(source.header)


class PartSplitter(Splitter):
    """The split of a partition's rows: as Splitter, but --order-by compares each row's
    (sort key, row) with the boundaries Spark found (job 2) instead of sorting the file."""

    def __init__(self, opt: PrepareOptions, bounds=()):
        self.opt, self.order, self.bounds = opt, None, bounds

    def __call__(self, file_index: int, batch, start: int, path: str) -> np.ndarray:
        if not self.opt.order_by or len(self.opt.paths) == 3:
            return super().__call__(file_index, batch, start, path)
        key = _order_keys(batch, self.opt, path, start)
        rows = np.arange(start, start + batch.height)
        split = np.zeros(batch.height, np.int8)
        for bound in self.bounds:
            if bound is not None:
                split += _after(key, rows, bound)
        return split


def _after(key: np.ndarray, rows: np.ndarray, bound) -> np.ndarray:
    """1 where (key, row) >= the boundary (key, row) (ties of the key broken by row)."""
    k, r = bound
    return ((key > k) | ((key == k) & (rows >= r))).astype(np.int8)


def _order_keys(batch, opt: PrepareOptions, path: str, start: int) -> np.ndarray:
    """Each row's sort key: a number (Splitter's: numbers, dates) or, --order-by-text, the
    text itself (Spark and polars both order text by its bytes)."""
    col = batch[opt.order_by]
    if col.null_count():
        row = int(np.argmax(col.is_null().to_numpy()))
        raise DataError(path, start + row + first_line(opt), f"--order-by {opt.order_by}: empty value")
    if opt.order_by_text:
        return np.asarray(col.cast(str).to_list(), dtype=object)
    return sort_keys(col, opt, path, start).to_numpy()


def _checked(source: Source, splitter: Splitter, batches):
    """(frame, first row, split, labels) of a partition's rows, checked as rows.checked_rows."""
    for batch, start in _blocks(source, batches):
        y = labels(batch, source.opt, source.path, start)
        batch = check_fields(batch, source.opt, source.path, start)
        yield batch, start, splitter(source.index, batch, start, source.path), y


def _record(what, field=None, text=None, number=None, count=None):
    return {"what": what, "field": field, "text": text, "number": number, "count": count}


def _schema():
    import pyarrow as pa
    return pa.schema([("what", pa.string()), ("field", pa.int64()), ("text", pa.string()),
                      ("number", pa.float64()), ("count", pa.int64())])


def _arrow(records: list):
    import pyarrow as pa
    return pa.RecordBatch.from_pylist(records, schema=_schema())


def _guarded(source: Source, work):
    """Run a partition's work; a DataError becomes an 'error' record (line, message), so the
    driver reports the file's first bad line as the polars engine does."""
    def run(batches):
        try:
            yield from work(batches)
        except DataError as exc:
            yield _arrow([_record("error", source.index, exc.reason, float(exc.line or 0), 1)])
    return run


def _fit_part(source: Source, splitter: Splitter, batches):
    """Job 3 on one partition: value counts and scalars of each field's Fitter over the
    training rows, rows per split, and (--positive) the training label values."""
    fitters, rows, values, first = fit_rows(source.opt, (
        (batch, start, split) for batch, start, split, _ in _checked(source, splitter, batches)))
    records = [_record("rows", s, count=r) for s, r in enumerate(rows)]
    order = float(source.index * 2 ** 40 + (first or 0))
    for j, fitter in enumerate(fitters):
        counts, scalars = fitter.partial()
        records.append(_record("scalars", j, json.dumps(scalars), order))
        if counts is not None:
            yield from _value_records("count", j, counts)
    labels_seen = values.merged()
    if labels_seen is not None:
        yield from _value_records("label", 0, labels_seen)
    yield _arrow(records)


def _value_records(what: str, field: int, counts):
    """Arrow batches of (what, field, value, count) rows: text values in `text`, numbers in
    `number` (built by columns: a field may count a million values)."""
    import polars as pl
    text = counts["values"].dtype == pl.String
    values = counts["values"].cast(pl.String if text else pl.Float64)
    n = counts.height
    frame = pl.DataFrame({
        "what": pl.repeat(what, n, eager=True, dtype=pl.String),
        "field": pl.repeat(field, n, eager=True, dtype=pl.Int64),
        "text": values if text else pl.repeat(None, n, eager=True, dtype=pl.String),
        "number": pl.repeat(None, n, eager=True, dtype=pl.Float64) if text else values,
        "count": counts["counts"].cast(pl.Int64)})
    return frame.to_arrow().cast(_schema()).to_batches()


def _encode_part(source: Source, splitter: Splitter, fmap_json: str, folder: str, batches):
    """Job 4 on one partition: its rows of each split encoded and written as a shard
    (temporary names, numbered by the driver); the shard records and the id counts."""
    fmap = FeatureMap.from_json(fmap_json)
    offsets = fmap.offsets[list(fmap.of_role("ids"))]
    typed = bool(fmap.dense_names or fmap.multi_names)
    parts, shares, first = [[], [], []], Shares(fmap, [0, 0, 0]), None
    for batch, start, split, y in _checked(source, splitter, batches):
        first = start if first is None else first
        encoded = fmap.encode(batch)
        try:
            arrays = {"ids": encoded, "labels": y, **fmap.encode_typed(batch)}
        except OverLength as exc:
            raise DataError(source.path, start + exc.row + first_line(source.opt), str(exc)) from None
        local = encoded - offsets
        for s in range(3):
            rows = np.flatnonzero(split == s)
            if rows.size:
                parts[s].append({k: v[rows] for k, v in arrays.items()})
                shares.add(s, local[rows])
        if typed:
            shares.typed.add(raw_facts(fmap, batch), arrays, split)
    records = []
    for s, split_parts in enumerate(parts):
        if split_parts:
            records.append(_record("shard", s, json.dumps(
                _write_shard(folder, SPLITS[s], source.index, first, split_parts)),
                float(source.index * 2 ** 40 + first), sum(len(p["labels"]) for p in split_parts)))
    counts = {"missing": shares.missing.tolist(), "oov": shares.oov.tolist(),
              "typed": [[*k, v] for k, v in shares.typed.counts.items()]}
    records.append(_record("shares", None, json.dumps(counts)))
    yield _arrow(records)


def _write_shard(folder: str, split: str, file_index: int, first: int, parts: list) -> dict:
    """One partition's rows of a split as .npy files named by (file, first row); returns
    {array: {name, bytes, sha256}}."""
    out = {}
    for array in parts[0]:
        name = f".part-{split}-{file_index}-{first:015d}.{array}.npy"
        path = os.path.join(folder, name)
        np.save(path, np.concatenate([p[array] for p in parts]))
        out[array] = {"name": name, "bytes": os.path.getsize(path), "sha256": file_sha256(path)}
    return out


# ---------------------------------------------------------------------------- the driver
def prepare_spark(opt: PrepareOptions, output, *, command: str, log, shards: int | None,
                  spark=None, master: str | None = None) -> FeatureMap:
    """Prepare `opt` with Spark into `output` (dcnmix.data.prepare.output.Output), sharded;
    see the module docstring. `spark`: a SparkSession to use (else one for `master`)."""
    from . import with_info
    if opt.kind not in SPARK_KINDS:
        raise ValueError(f"--engine spark reads {' and '.join(SPARK_KINDS)} files; prepare "
                         f"{opt.kind} data with the polars engine")
    t0 = time.time()
    stamps = {p: stamp(p) for p in opt.paths if os.path.isfile(p)}
    scanning, sources_info = scan_sources(list(stamps), opt)
    extra = tuple(c for c in (opt.split_column, opt.order_by) if c)
    sources = [Source(i, path, opt, extra) for i, path in enumerate(opt.paths)]
    spark = spark or session(master)
    with _partition_size(spark, sources, shards):
        fmap, rows, oov, label_values = _jobs(spark, sources, output, lambda: check_scan(
            scanning, sources_info, stamps), log)
    for path, before in stamps.items():
        check_unchanged(path, before)
    fmap = with_info(fmap, opt, rows=rows, sources=[sources_info[p] for p in opt.paths], oov=oov,
                     command=command, seconds=time.time() - t0, label_values=label_values,
                     engine="spark")
    return output.finish(output.tmp, fmap)


def _jobs(spark, sources: list, output, scanned, log):
    """Jobs 1-4 (the module docstring) into output's working folder: (feature map, rows per
    split, shares, label values). `scanned()` waits for the sources' sha256 and checks."""
    opt = sources[0].opt
    totals = [source.number_lines(spark) for source in sources]
    log(f"spark: {sum(totals):,} rows in {sum(len(s.starts) for s in sources)} blocks")
    splitter = PartSplitter(opt, _order_bounds(spark, sources[0], totals[0]) if
                            opt.order_by else ())
    fields, rows, label_values = _fit(spark, sources, splitter, log)
    scanned()
    if rows[0] == 0:
        raise DataError(opt.paths[0], None, "no training rows (check the split)")
    fmap = FeatureMap(fields, opt.min_count, opt.label)
    folder = output.fresh()
    oov, records = _encode(spark, sources, splitter, fmap, folder, rows, log)
    write_manifest(folder, _number_shards(folder, records), engine="spark",
                   options={**output.options, "spark_master": spark.sparkContext.master})
    return fmap, rows, oov, label_values


@contextlib.contextmanager
def _partition_size(spark, sources: list, shards: int | None):
    """With --shards N, blocks of about 1/N of the input (a gzip file is one block): Spark's
    split size min(maxPartitionBytes, max(openCostInBytes, bytes / minPartitionNum)) made
    bytes / N for this run, the session's settings put back after."""
    if not shards:
        yield
        return
    size = sum(os.path.getsize(s.path) for s in sources)
    settings = {"spark.sql.files.maxPartitionBytes": str(max(size // shards + 1, 1 << 12)),
                "spark.sql.files.openCostInBytes": "0",
                "spark.sql.files.minPartitionNum": str(shards)}
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.unset(key) if value is None else spark.conf.set(key, value)


def _mapped(spark, sources: list, work):
    """The union over the files of `work(source)` applied to each partition of its lines."""
    frames = [s.lines(spark).mapInArrow(_guarded(s, work(s)), RECORD) for s in sources]
    return functools.reduce(lambda a, b: a.unionByName(b), frames)


def _first_error(records, sources: list) -> None:
    """Raise the DataError of the first bad line (first file, lowest line) any partition met
    (`records`: a polars frame of a job's records)."""
    import polars as pl
    bad = records.filter(pl.col("what") == "error").sort("field", "number")
    if bad.height:
        line = int(bad["number"][0])
        raise DataError(sources[bad["field"][0]].path, line or None, bad["text"][0])


def _order_bounds(spark, source: Source, total: int):
    """Job 2: the (key, row) of the first validation and the first test row in time order
    (None where the split is empty), by a range-partitioned sort."""
    from pyspark.sql import functions as F
    opt = source.opt
    text = opt.order_by_text
    schema = f"key {'string' if text else 'double'}, row long"

    def keys(batches):
        import pyarrow as pa
        for batch, start in _blocks(source, batches):
            key = _order_keys(batch, opt, source.path, start)
            yield pa.RecordBatch.from_pydict({"key": list(key), "row": np.arange(
                start, start + batch.height)}, schema=pa.schema([
                    ("key", pa.string() if text else pa.float64()), ("row", pa.int64())]))
    frame = source.lines(spark).mapInArrow(keys, schema)
    parts = max(1, min(total // 200_000, 4096))
    ranged = frame.repartitionByRange(parts, "key", "row").sortWithinPartitions("key", "row") \
        .withColumn("part", F.spark_partition_id()).cache()
    sizes = dict((r["part"], r["count"]) for r in ranged.groupBy("part").count().collect())
    bounds = []
    for at in np.round(np.cumsum(opt.fractions)[:2] * total).astype(int):
        bounds.append(_nth(ranged, sizes, int(at)))
    ranged.unpersist()
    return tuple(bounds)


def _nth(ranged, sizes: dict, at: int):
    """(key, row) at sorted position `at` of a range-partitioned, sorted frame; None past
    the end."""
    from pyspark.sql import functions as F
    before = 0
    for part in sorted(sizes):
        if at < before + sizes[part]:
            rows = ranged.filter(F.col("part") == part).select("key", "row").collect()
            rows.sort(key=lambda r: (r["key"], r["row"]))
            found = rows[at - before]
            return found["key"], found["row"]
        before += sizes[part]
    return None


def _fit(spark, sources: list, splitter: Splitter, log):
    """Job 3: the fields fitted on the training rows, rows per split, label values. One
    Spark action: the partitions' records summed by (what, field, value), the value counts
    below min_count dropped (where the kind keeps only those) before the driver collects."""
    import polars as pl
    from pyspark.sql import functions as F
    opt = sources[0].opt
    fitters = [KINDS[kind].fitter(name, opt) for name, kind in opt.fields]
    keeping = [j for j, f in enumerate(fitters) if f.keeps_min_count]
    frame = _mapped(spark, sources, lambda s: functools.partial(_fit_part, s, splitter))
    summed = frame.groupBy("what", "field", "text", "number").agg(F.sum("count").alias("count"))
    records = _polars(summed.filter((F.col("what") != "count") | ~F.col("field").isin(keeping)
                                    | (F.col("count") >= max(opt.min_count, 1))))
    _first_error(records, sources)
    of = lambda what: records.filter(pl.col("what") == what)
    counts, scalars = of("count"), of("scalars").sort("number")
    log(f"spark: {counts.height:,} tokens kept over {len(fitters)} fields")
    for j, fitter in enumerate(fitters):
        fitter.absorb(_values(counts, j), [json.loads(t) for t in
                                           scalars.filter(pl.col("field") == j)["text"]])
    rows = [0, 0, 0]
    for split, count in of("rows").group_by("field").agg(pl.col("count").sum()).iter_rows():
        rows[split] = int(count)
    labels_seen = dict(of("label").select("text", "count").iter_rows())
    return tuple(f.field() for f in fitters), rows, dict(sorted(labels_seen.items()))


def _polars(frame):
    """A Spark frame as a polars one, through Arrow (no Row objects)."""
    import polars as pl
    if hasattr(frame, "toArrow"):
        return pl.from_arrow(frame.toArrow())
    return pl.from_pandas(frame.toPandas())


def _values(merged, j: int):
    """Field j's summed (values, counts): text values as String, numbers as Float64."""
    import polars as pl
    part = merged.filter(pl.col("field") == j)
    if not part.height:
        return None
    values = part["text"] if part["text"].null_count() == 0 else part["number"]
    return pl.DataFrame({"values": values, "counts": part["count"].cast(pl.Int64)})


def _encode(spark, sources: list, splitter: Splitter, fmap: FeatureMap, folder: str, rows, log):
    """Job 4 (one action: its tasks write the shards): (shares per split and field, the
    shard records in file order)."""
    import polars as pl
    text = fmap.to_json()
    records = _polars(_mapped(spark, sources, lambda s: functools.partial(
        _encode_part, s, splitter, text, folder)))
    _first_error(records, sources)
    shares = Shares(fmap, rows)
    for counts in map(json.loads, records.filter(pl.col("what") == "shares")["text"]):
        shares.missing += np.asarray(counts["missing"])
        shares.oov += np.asarray(counts["oov"])
        for s, name, what, value in counts["typed"]:
            shares.typed.tally(s, name, what, value)
    shards = records.filter(pl.col("what") == "shard").sort("number")
    log(f"spark: wrote {shards.height} shards")
    return shares.shares(fmap.id_names), list(shards.iter_rows(named=True))


def _number_shards(folder: str, records) -> dict:
    """The partitions' shard files renamed {split}-{k:05d}.{array}.npy in file order;
    {split: [SHARD, ...]} for the manifest."""
    out = {s: [] for s in SPLITS}
    for r in records:
        split = SPLITS[r["field"]]
        files, k = json.loads(r["text"]), len(out[split])
        for array, info in files.items():
            name = shard_name(split, k, array)
            os.replace(os.path.join(folder, info["name"]), os.path.join(folder, name))
            files[array] = {**info, "name": name}
        out[split].append({"rows": int(r["count"]), "files": files})
    return out
