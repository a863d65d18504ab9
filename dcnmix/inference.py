"""Use a trained model: `load_run(RUN_DIR).predict(rows)` and `dcnmix predict`.

    run = dcnmix.load_run("runs/criteo", framework="jax")     # or "torch" (the twin)
    run = dcnmix.load_run("runs/criteo", api="nnx")           # run.model: the Flax NNX module
    probs = run.predict(frame)          # polars / pandas DataFrame, Arrow table, dict of columns
    probs = run.predict(ids)            # or already-encoded ids [rows, fields] (or the typed
                                        # dict {ids, dense, multi}, dcnmix.data.features)

Raw rows are encoded with the run's saved feature map (feature_map.json), never refitted:
an unseen token gets the field's out-of-vocabulary id (local 1), an empty value the missing
id (local 0), a number the same bucket as in training, a dense value the training transform,
a list its elements' ids (cut at max_len). The weights are the run's
best.safetensors, checked against the config in its summary. Framework-free: the backend
chosen by name (dcnmix.backends) builds the model.
"""
from __future__ import annotations

import os

import numpy as np

from . import backends, files
from .backends import predict_in_batches
from .config import ModelConfig
from .data import check_ids, features
from .data.errors import DataError
from .data.featuremap import FeatureMap
from .run import RunError, RunFolder
from .weights import WeightsError


class LoadedRun:
    """A run folder's best model in one backend, with its feature map (if the data had one).

    .config (ModelConfig), .feature_map (FeatureMap or None), .arrays (torch-keyed weights),
    .predictor (the backend's: ids -> probabilities). What the predictor holds is reachable
    here too: JAX .model (the Flax module: linen, or NNX with api='nnx') and .variables;
    torch .module (eval mode).
    """

    def __init__(self, run_dir, framework: str = "jax", api: str | None = None):
        self.backend = backends.get(framework)
        apis = getattr(self.backend, "apis", ())
        if api is not None and api not in apis:
            raise ValueError(f"api={api!r}: the {framework} backend offers {apis}")
        self.api = api or (apis[0] if apis else None)
        self.folder = RunFolder(run_dir)
        self.framework = framework
        summary = self.folder.read_summary()
        try:
            self.config = ModelConfig.from_dict(summary["config"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RunError(f"{self.folder.path('summary.json')}: no usable model config ({exc})") from None
        run_id = summary.get("run_id")
        if run_id is not None and not isinstance(run_id, str):
            raise RunError(f"{self.folder.path('summary.json')}: run_id {run_id!r} is not text")
        self.run_id = run_id
        self.arrays = self.folder.load_weights("best.safetensors", self.config, run_id=run_id)
        fmap_path = self.folder.path("feature_map.json")
        self.feature_map = FeatureMap.load(fmap_path) if os.path.lexists(fmap_path) else None
        self.predictor = self.backend.predictor(self.config, self.arrays, api=self.api)

    def __getattr__(self, name):
        """The predictor's own attributes (.model, .variables, .module)."""
        if name == "predictor":
            raise AttributeError(name)
        return getattr(self.predictor, name)

    def encode(self, rows, *, where: tuple[str, int] | None = None):
        """The model's input (dcnmix.data.features: ids int32 [rows, fields], or the typed
        dict) of raw rows (a polars or pandas DataFrame, an Arrow table or a dict of columns)
        with the run's feature map; encoded ids (an integer array, or the typed dict of
        arrays) pass through. A value a field's kind refuses (text or a non-finite number in
        a numeric or dense column, as prepare refuses it) is a DataError naming the column
        and the row (`where`: the file and the line of row 0, for a file's rows)."""
        if isinstance(rows, np.ndarray) and np.issubdtype(rows.dtype, np.integer):
            return rows.astype(np.int32, copy=False)
        if isinstance(rows, dict) and set(rows) <= set(features.NAMES) and "ids" in rows:
            return {k: np.asarray(v, features.DTYPES[k]) for k, v in rows.items()}
        if self.feature_map is None or self.feature_map.given_feat_dim is not None:
            raise ValueError(f"{self.folder.out}: this run's data had no raw vocabulary "
                             "(synthetic or libfm ids): pass encoded ids [rows, fields]")
        frame = as_polars(rows)
        missing = [n for n in self.feature_map.field_names if n not in frame.columns]
        if missing:
            raise ValueError(f"the rows lack the run's field(s) {missing}")
        from .data.prepare.rows import first_invalid
        bad = first_invalid(frame, [(f.name, f.kind) for f in self.feature_map.fields])
        if bad:
            name, row, reason = bad
            if where is None:
                raise ValueError(f"row {row} (counted from 0), column {name!r}: {reason}")
            raise DataError(where[0], where[1] + row, f"column {name}: {reason}")
        return self.feature_map.batch(_typed(frame, self.feature_map))

    def predict(self, rows, batch_size: int = 8192) -> np.ndarray:
        """Probabilities (float64) of rows: raw (see encode) or encoded. Empty input gives an
        empty result."""
        batch = self.encode(rows)
        features.check(batch, self.config)
        check_ids(features.parts(batch)["ids"], self.config.feat_dim)
        return predict_in_batches(self.predictor, batch, batch_size)

    def shares(self, rows) -> dict:
        """{field: {missing, oov}}: shares of raw rows that got a single-id field's missing or
        out-of-vocabulary id (multi-valued: of its elements), as prepare reports them."""
        return self.feature_map.shares(self.encode(rows))


def as_polars(rows):
    """A polars DataFrame of a polars or pandas DataFrame, an Arrow table or a dict of
    columns."""
    import polars as pl
    if isinstance(rows, pl.DataFrame):
        return rows
    if isinstance(rows, dict):
        return pl.DataFrame(rows)
    if type(rows).__module__.startswith("pyarrow"):
        return pl.from_arrow(rows)
    if type(rows).__module__.startswith("pandas"):
        return pl.from_pandas(rows)
    raise TypeError(f"rows must be a polars or pandas DataFrame, an Arrow table, a dict of "
                    f"columns or encoded ids; got {type(rows).__name__}")


def _typed(frame, fmap: FeatureMap):
    """Raw columns as the feature map expects them: numbers for numeric and dense fields
    (text parsed), lists or text for multi-valued ones, strings for the others, an empty
    string being missing (as in prepare)."""
    import polars as pl

    def text(f):
        text = pl.col(f.name).cast(pl.String)
        return pl.when(text == "").then(None).otherwise(text).alias(f.name)
    # numbers and lists are parsed by their kind's encoder (dcnmix.data.fieldkinds)
    return frame.with_columns([text(f) for f in fmap.fields
                               if f.kind not in ("numeric", "dense", "multivalued")])


def load_run(run_dir, framework: str = "jax", api: str | None = None) -> LoadedRun:
    """The best model of a run folder, ready to predict (see LoadedRun); `api` picks the
    backend's model API (JAX: 'linen', the default, or 'nnx')."""
    return LoadedRun(run_dir, framework, api)


# ---------------------------------------------------------------------- dcnmix predict
def predict_file(run: LoadedRun, spec: str, out: str | None, *, batch_size: int = 65536,
                 keep: str | None = None, log=print) -> dict:
    """Score every row of a data file, in input order, chunk by chunk (a file larger than
    memory streams); write `out` (.parquet or .csv: the probability per row, and the
    `keep` column); AUC and logloss when the file has labels. Returns the metrics and rows."""
    from .data.prepare import PrepareOptions, iter_batches
    kind, _, path = spec.partition(":")
    fmap = run.feature_map
    if fmap is None or fmap.given_feat_dim is not None:
        raise ValueError(f"{run.folder.out}: this run's data had no raw vocabulary; "
                         "use load_run(...).predict(ids) with encoded ids")
    if kind not in ("criteo", "csv", "parquet") or not path:
        raise ValueError(f"--data {spec!r}: expected criteo:PATH, csv:PATH or parquet:PATH")
    opt = PrepareOptions(kind=kind, paths=(path,), **reading_options(fmap, kind))
    check_output(out, data=path)
    from .data.prepare.readers import first_line
    scores, counts, rows = Scores(opt, fmap), ShareCounts(fmap), 0
    with _Writer(out, keep) as writer:
        for batch in iter_batches(path, opt, extra=(keep,) if keep else (), label_optional=True):
            encoded = run.encode(batch, where=(path, rows + first_line(opt)))
            counts.add(encoded)
            probs = run.predict(encoded, batch_size=batch_size)
            writer.write(batch, probs)
            scores.add(batch, probs, path, rows + first_line(opt))
            rows += len(probs)
            log(f"scored {rows:,} rows")
    return {"rows": rows, "shares": counts.shares(), **scores.metrics(rows)}


def check_output(out: str | None, *, data: str) -> None:
    """Refuse an --out that is the input file or a folder (a run folder's own files never
    end in .parquet or .csv); create its folder (before any scoring)."""
    if out is None:
        return
    if os.path.exists(data) and os.path.realpath(out) == os.path.realpath(data):
        raise ValueError(f"--out {out}: is the input file --data reads")
    if os.path.isdir(out):
        raise ValueError(f"--out {out}: is a folder; give FILE.parquet or FILE.csv")
    folder = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, f"--out {out}: cannot create its folder {folder}: "
                                 f"{exc.strerror or exc}") from None


class Scores:
    """Labels and probabilities gathered for AUC and logloss, when the file has labels that
    prepare would accept; labels it refuses (a value not 0/1, -1/1 or true/false, an empty
    label, or with --positive a value training never saw) are never scored: `refused` names
    the first one and its line."""

    def __init__(self, opt, fmap: FeatureMap):
        self.opt, self.labels, self.probs, self.refused = opt, [], [], None
        known = (fmap.info.get("labels") or {}).get("train_values")
        self.known = set(map(str, known)) if opt.positive is not None and known else None

    def add(self, batch, probs, path: str, line: int) -> None:
        from .data.prepare.rows import parse_labels
        if self.opt.label not in batch.columns or self.refused is not None:
            return
        column = batch[self.opt.label]
        y, row, reason = parse_labels(column, self.opt.positive)
        if row is None and self.known is not None:
            import polars as pl
            unseen = ~column.cast(pl.String).is_in(sorted(self.known)).to_numpy()
            if unseen.any():
                row = int(np.argmax(unseen))
                reason = f"label {column[row]!r} is not one of the values training saw"
        if row is not None:
            self.refused = f"{path}:{line + row}: {reason}"
            return
        self.labels.append(y.astype(np.float64))
        self.probs.append(probs)

    def metrics(self, rows: int) -> dict:
        if self.refused is not None:
            return {"labels_refused": self.refused}
        if not self.labels or sum(len(x) for x in self.labels) != rows or not rows:
            return {}
        from sklearn.metrics import log_loss, roc_auc_score
        y, p = np.concatenate(self.labels), np.concatenate(self.probs)
        if not 0 < y.sum() < len(y):
            return {"labels_refused": "the labels hold one class only: AUC is undefined"}
        return {"auc": float(roc_auc_score(y, p)),
                "logloss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))}


def reading_options(fmap: FeatureMap, kind: str) -> dict:
    """The DataOptions that read a file of the run's raw columns as prepare did: the fields'
    names by kind, the label (and its positive value), the delimiter and the column names."""
    options = dict(fmap.info.get("options", {}))
    of = lambda *kinds: tuple(f.name for f in fmap.fields if f.kind in kinds)
    out = {"label": fmap.label, "delimiter": options.get("delimiter", ","),
           "columns": tuple(options.get("columns", ())),
           "positive": (fmap.info.get("labels") or {}).get("positive"),
           "multivalued_sep": options.get("multivalued_sep", "|")}
    if kind == "criteo":
        return {**out, "dense": of("dense")}
    return {**out, "categorical": of("categorical", "hashed"), "numeric": of("numeric"),
            "dense": of("dense"), "multivalued": of("multivalued"),
            "hash_buckets": tuple((f.name, f.buckets) for f in fmap.fields if f.kind == "hashed")}


class ShareCounts:
    """Rows (elements, for multi-valued fields) that got each field's missing or
    out-of-vocabulary id over the batches added: what `predict` reports beside prepare's."""

    def __init__(self, fmap: FeatureMap):
        self.fmap, self.totals = fmap, {}

    def add(self, batch) -> None:
        for name, (missing, oov, n) in self.fmap.share_counts(batch).items():
            m, o, t = self.totals.get(name, (0, 0, 0))
            self.totals[name] = (m + missing, o + oov, t + n)

    def shares(self) -> dict:
        return {name: {"missing": round(m / max(t, 1), 6), "oov": round(o / max(t, 1), 6)}
                for name, (m, o, t) in self.totals.items()}


class _Writer:
    """Probabilities (and a kept key column) appended to a .parquet or .csv file: written at
    a fresh temporary beside it (dcnmix.files), renamed over it once every row is in."""

    def __init__(self, out: str | None, keep: str | None):
        self.out, self.keep, self.writer, self.tmp = out, keep, None, None
        if out is not None and not out.endswith((".parquet", ".csv")):
            raise ValueError(f"--out {out}: write .parquet or .csv")

    def __enter__(self):
        if self.out is not None:
            self._paths = files.temporary_path(self.out)
            self.tmp = self._paths.__enter__()
        return self

    def write(self, batch, probs) -> None:
        if self.out is None:
            return
        import pyarrow as pa
        columns = {"probability": pa.array(probs)}
        if self.keep:
            columns = {self.keep: batch[self.keep].to_arrow(), **columns}
        table = pa.table(columns)
        if self.writer is None:
            if self.out.endswith(".parquet"):
                import pyarrow.parquet as pq
                self.writer = pq.ParquetWriter(self.tmp, table.schema)
            else:
                import pyarrow.csv as pcsv
                self.writer = pcsv.CSVWriter(self.tmp, table.schema)
        self.writer.write_table(table)

    def __exit__(self, kind, exc, tb):
        if self.out is None:
            return False
        if self.writer is not None:
            self.writer.close()
        return self._paths.__exit__(kind, exc, tb)


__all__ = ["LoadedRun", "load_run", "predict_file", "DataError", "WeightsError"]
