"""Use a trained model: `load_run(RUN_DIR).predict(rows)` and `dcnmix predict`.

    run = dcnmix.load_run("runs/criteo", framework="jax")     # or "torch" (the twin)
    probs = run.predict(frame)          # polars / pandas DataFrame or dict of raw columns
    probs = run.predict(ids)            # or already-encoded ids [rows, fields]

Raw rows are encoded with the run's saved feature map (feature_map.json), never refitted:
an unseen token gets the field's out-of-vocabulary id (local 1), an empty value the missing
id (local 0), a number the same log bucket as in training. The weights are the run's
best.safetensors, checked against the config in its summary. Framework-free: the backend
chosen by name (dcnmix.backends) builds the model.
"""
from __future__ import annotations

import os

import numpy as np

from . import backends
from .backends import predict_in_batches
from .config import ModelConfig
from .data import check_ids
from .data.errors import DataError
from .data.featuremap import FeatureMap
from .run import RunError, RunFolder
from .weights import WeightsError


class LoadedRun:
    """A run folder's best model in one backend, with its feature map (if the data had one).

    .config (ModelConfig), .feature_map (FeatureMap or None), .arrays (torch-keyed weights),
    .predictor (the backend's: ids -> probabilities). What the predictor holds is reachable
    here too: JAX .model (the Flax module) and .variables; torch .module (eval mode).
    """

    def __init__(self, run_dir, framework: str = "jax"):
        self.backend = backends.get(framework)
        self.folder = RunFolder(run_dir)
        self.framework = framework
        summary = self.folder.read_summary()
        try:
            self.config = ModelConfig.from_dict(summary["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{self.folder.path('summary.json')}: no usable model config ({exc})") from None
        self.arrays = self.folder.load_weights("best.safetensors", self.config)
        fmap_path = self.folder.path("feature_map.json")
        self.feature_map = FeatureMap.load(fmap_path) if os.path.exists(fmap_path) else None
        self.predictor = self.backend.predictor(self.config, self.arrays)

    def __getattr__(self, name):
        """The predictor's own attributes (.model, .variables, .module)."""
        if name == "predictor":
            raise AttributeError(name)
        return getattr(self.predictor, name)

    def encode(self, rows) -> np.ndarray:
        """Global ids int32 [rows, fields] of raw rows (a polars or pandas DataFrame, or a dict
        of columns) with the run's feature map; ids given as an integer array pass through."""
        if isinstance(rows, np.ndarray) and np.issubdtype(rows.dtype, np.integer):
            return rows.astype(np.int32, copy=False)
        if self.feature_map is None or self.feature_map.given_feat_dim is not None:
            raise ValueError(f"{self.folder.out}: this run's data had no raw vocabulary "
                             "(synthetic or libfm ids): pass encoded ids [rows, fields]")
        import polars as pl
        frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(
            rows if isinstance(rows, dict) else pl.from_pandas(rows))
        missing = [n for n in self.feature_map.field_names if n not in frame.columns]
        if missing:
            raise ValueError(f"the rows lack the run's field(s) {missing}")
        return self.feature_map.encode(_typed(frame, self.feature_map))

    def predict(self, rows, batch_size: int = 8192) -> np.ndarray:
        """Probabilities (float64) of rows: raw (see encode) or encoded ids. Empty input
        gives an empty result."""
        ids = self.encode(rows)
        if ids.ndim != 2 or ids.shape[1] != self.config.field_num:
            raise ValueError(f"ids must have shape [rows, {self.config.field_num}], got {ids.shape}")
        check_ids(ids, self.config.feat_dim)
        return predict_in_batches(self.predictor, ids, batch_size)


def _typed(frame, fmap: FeatureMap):
    """Raw columns as the feature map expects them: floats for numeric fields, strings for
    the others, an empty string being missing (as in prepare)."""
    import polars as pl

    def column(f):
        if f.kind == "numeric":
            return pl.col(f.name).cast(pl.Float64, strict=False)
        text = pl.col(f.name).cast(pl.String)
        return pl.when(text == "").then(None).otherwise(text).alias(f.name)
    return frame.with_columns([column(f) for f in fmap.fields])


def load_run(run_dir, framework: str = "jax") -> LoadedRun:
    """The best model of a run folder, ready to predict (see LoadedRun)."""
    return LoadedRun(run_dir, framework)


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
    options = dict(fmap.info.get("options", {}))
    categorical = tuple(f.name for f in fmap.fields if f.kind in ("categorical", "hashed"))
    numeric = tuple(f.name for f in fmap.fields if f.kind == "numeric")
    opt = PrepareOptions(kind=kind, paths=(path,), label=fmap.label,
                         categorical=() if kind == "criteo" else categorical,
                         numeric=() if kind == "criteo" else numeric,
                         delimiter=options.get("delimiter", ","),
                         columns=tuple(options.get("columns", ())))
    writer, probs_all, labels_all, rows = _Writer(out, keep), [], [], 0
    for batch in iter_batches(path, opt, extra=(keep,) if keep else (), label_optional=True):
        probs = run.predict(_typed(batch, fmap), batch_size=batch_size)
        writer.write(batch, probs)
        probs_all.append(probs)
        if opt.label in batch.columns and batch[opt.label].null_count() == 0:
            labels_all.append((batch[opt.label].cast(float).to_numpy() == 1.0).astype(np.float64))
        rows += len(probs)
        log(f"scored {rows:,} rows")
    writer.close()
    result = {"rows": rows}
    if labels_all and sum(len(x) for x in labels_all) == rows and rows:
        from sklearn.metrics import log_loss, roc_auc_score
        y, p = np.concatenate(labels_all), np.concatenate(probs_all)
        if 0 < y.sum() < len(y):
            result.update(auc=float(roc_auc_score(y, p)),
                          logloss=float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])))
    return result


class _Writer:
    """Probabilities (and a kept key column) appended to a .parquet or .csv file."""

    def __init__(self, out: str | None, keep: str | None):
        self.out, self.keep, self.writer = out, keep, None
        if out is not None and not out.endswith((".parquet", ".csv")):
            raise ValueError(f"--out {out}: write .parquet or .csv")
        if out is not None:
            self.tmp = os.path.join(os.path.dirname(os.path.abspath(out)),
                                    f".tmp-{os.path.basename(out)}")

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

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.out)


__all__ = ["LoadedRun", "load_run", "predict_file", "DataError", "WeightsError"]
