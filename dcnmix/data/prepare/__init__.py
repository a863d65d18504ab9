"""`dcnmix prepare`: raw files -> a prepared folder the trainers read without parsing.

    prepare(PrepareOptions(kind="criteo", paths=("train.txt",)), "prepared/criteo")

Reads with polars' or pyarrow's multithreaded C++ CSV reader (or pyarrow's Parquet reader),
streaming: one block of rows at a time, so memory holds the vocabulary, not the file.

One parse (onepass, when every field's kind has a coder: categorical and 'log' numeric
fields of a Criteo or CSV file, the usual case): each batch's values become per-field codes
(codes), written per split to temporary files in the working folder (each field's codes in
the narrowest integer type) while the training rows' count of each code adds up; then each
field's vocabulary is fitted from its codes' tokens and counts, and the codes are remapped
block by block into the ids. Otherwise two
passes: the first counts the tokens of the training rows (counting: polars value counts,
merged in C; quantile boundaries, dense moments, list elements); the second encodes every
row (encoding: a polars join against the kept tokens) straight into .npy files. Both write
the same bytes.

The output folder:

    feature_map.json              fields, tokens with counts, offsets, feat_dim, rows per split,
                                  split rule and seed, sources (size, sha256), out-of-vocabulary
                                  shares per field and split, the command
    {train,valid,test}.ids.npy    int32 [rows, fields], memory-mappable (np.load(mmap_mode='r'))
    {train,valid,test}.labels.npy float32 [rows]

Splits: three files; a split column (train / valid|validation / test); time order
(`order_by`: the earliest 80% of rows train, the next 10% validate); or a seeded random split
that needs no row count: row i goes to train / valid / test by a hash of (split_seed, i)
(80/10/10 in expectation). Bad input is a DataError naming the file and the line.

The modules, one job each: options (PrepareOptions), readers (one per source kind, the
header check, error location), splits, rows (the checked rows every pass walks), codes (a
field's values -> codes, and its fit), onepass (the one parse and the remap), counting (pass
one), scan (sha256, size and Criteo column counts, in a thread), encoding (pass two, and the
split files' writer), output (the folder, renamed into place), summary (`report`, what
prepare prints), libfm (libfm / Frappe: ids given). What a field kind does is
dcnmix.data.fieldkinds'.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

from ..errors import DataError
from ..featuremap import FeatureMap
from ..textfile import check_unchanged, stamp
from .counting import count_pass
from .encoding import encode_pass
from .libfm import prepare_libfm
from .onepass import code_pass, coders_of
from .options import LIBFM_KINDS, SOURCE_KINDS, SPLITS, PrepareOptions
from .output import Output
from .readers import iter_batches
from .summary import field_warnings, report
from .scan import check_scan, scan_sources
from .splits import Splitter, hashed_split

__all__ = ["ENGINES", "PrepareOptions", "SOURCE_KINDS", "SPLITS", "Splitter", "code_pass", "count_pass",
           "encode_pass", "hashed_split", "iter_batches", "prepare", "prepare_libfm", "report"]


ENGINES = ("polars", "spark")


def prepare(opt: PrepareOptions, out: str, *, command: str | None = None, log=None,
            engine: str = "polars", shards: int | None = None, spark=None,
            spark_master: str | None = None) -> FeatureMap:
    """Prepare `opt`'s data into the folder `out` (see the module docstring); returns the
    feature map. The folder is complete once feature_map.json exists (written last).

    engine: 'polars' (this process) or 'spark' (dcnmix.data.prepare.spark: a SparkSession
    `spark`, else one made for `spark_master`, default local[*]). shards: write each split
    as that many shards with a manifest (dcnmix.data.shards; the Spark engine writes one
    shard per input partition, or about `shards`); None: the one-file folder."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (expected one of {ENGINES})")
    if shards is not None and (not isinstance(shards, int) or shards < 1):
        raise ValueError(f"shards must be an integer >= 1, got {shards!r}")
    log = log or (lambda *_: None)
    command = command or " ".join(sys.argv)
    options = {"kind": opt.kind, "paths": list(opt.paths), **dataclasses.asdict(opt)}
    if engine == "spark":
        from .spark import prepare_spark
        with Output(out, opt.paths, engine="spark", options=options) as output:
            return prepare_spark(opt, output, command=command, log=log, shards=shards,
                                 spark=spark, master=spark_master)
    with Output(out, opt.paths, shards=shards, options=options) as output:
        if opt.kind in LIBFM_KINDS:
            return prepare_libfm(opt, output, command=command)
        return _prepare(opt, output, command=command, log=log)


def _prepare(opt: PrepareOptions, output: Output, *, command, log) -> FeatureMap:
    t0 = time.time()
    present = [p for p in opt.paths if os.path.isfile(p)]
    stamps = {p: stamp(p) for p in present}
    scanning, sources = scan_sources(present, opt)
    splitter = Splitter(opt)

    def read(rows) -> None:            # every file parsed: the scan agrees, train has rows
        check_scan(scanning, sources, stamps)
        if rows[0] == 0:
            raise DataError(opt.paths[0], None, "no training rows (check the split)")
    coders = coders_of(opt)
    passes = _two_passes if coders is None else _one_parse
    fmap, rows, oov, label_values = passes(opt, splitter, output, coders, read, log)
    for path, before in stamps.items():
        check_unchanged(path, before)
    fmap = with_info(fmap, opt, rows=rows, sources=[sources[p] for p in opt.paths], oov=oov,
                     command=command, seconds=time.time() - t0, label_values=label_values)
    return output.finish(output.tmp, fmap)


def with_info(fmap: FeatureMap, opt: PrepareOptions, *, rows, sources, oov, command, seconds,
              label_values, **extra) -> FeatureMap:
    """The feature map with what produced it (feature_map.json's info): rows per split,
    split rule, sources, options, shares out of vocabulary, the command, the time taken, the
    warnings and, with --positive, the label values seen (every engine's record)."""
    info = {"rows": dict(zip(SPLITS, rows)), "split": opt.split_rule(), "sources": sources,
            "kind": opt.kind,
            "options": {k: v for k, v in dataclasses.asdict(opt).items() if k not in ("kind", "paths")},
            "oov": oov, "command": command, "seconds": round(seconds, 2),
            "warnings": field_warnings(fmap, rows[0]), **extra}
    if opt.positive is not None:
        info["labels"] = {"positive": opt.positive, "train_values": label_values}
    return dataclasses.replace(fmap, info=info)


def _two_passes(opt: PrepareOptions, splitter: Splitter, output: Output, coders, read, log):
    """Count (fit the fields), then encode: (feature map, rows, shares, label values)."""
    fields, rows, label_values = count_pass(opt, splitter, log)
    read(rows)
    fmap = FeatureMap(fields, opt.min_count, opt.label)
    return fmap, rows, encode_pass(opt, splitter, fmap, rows, output.fresh(), log), label_values


def _one_parse(opt: PrepareOptions, splitter: Splitter, output: Output, coders, read, log):
    """Parse once into codes, fit the fields on their counts, write the ids: as _two_passes."""
    coded, label_values = code_pass(opt, splitter, coders, output.fresh(), log)
    read(coded.rows)
    fmap = FeatureMap(coded.fields(), opt.min_count, opt.label)
    return fmap, coded.rows, coded.write(fmap, opt.paths[0], log), label_values
