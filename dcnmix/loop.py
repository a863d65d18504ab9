"""The training loop, framework-free: epochs, evaluation, early stopping, checkpoints.

A `Trainer` from a backend (dcnmix.backends: dcnmix_jax.trainer.JaxTrainer, jitted with a
donated state; dcnmix_torch.trainer.TorchTrainer, the eager twin) owns the model and its
optimiser; the loop feeds both exactly the same batches and writes the run folder
(dcnmix.run). `train` is the Python API beside the CLI; `fit` is the loop itself.
"""
from __future__ import annotations

import os
import sys
import time
from typing import NamedTuple

import numpy as np

from . import backends, files, tracking
from .backends import Trainer, check_supported
from .config import ModelConfig, TrainConfig, model_defaults
from .data import Dataset, DataSpec, batch_order, check_ids, fingerprint, split
from .run import Progress, RunError, RunFolder

COMPILATION_CACHE_ENV = "DCNMIX_COMPILATION_CACHE"


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, unusable options)."""


def make_trainer(framework: str, cfg: ModelConfig, tc: TrainConfig, mesh=None,
                 data_budget: int | None = None) -> Trainer:
    """The trainer of the backend `framework` (dcnmix.backends); `fit` has checked the
    options (check_supported). data_budget: bytes of training data the JAX trainer keeps on
    the device (more streams)."""
    return backends.get(framework).trainer(cfg, tc, mesh=mesh, data_budget=data_budget)


def evaluate(trainer: Trainer, dataset: Dataset) -> dict:
    from sklearn.metrics import log_loss, roc_auc_score
    probs = trainer.predict(dataset.inputs)
    return {"auc": float(roc_auc_score(dataset.labels, probs)),
            "logloss": float(log_loss(dataset.labels, np.clip(probs, 1e-7, 1 - 1e-7), labels=[0, 1]))}


def train_epoch(trainer: Trainer, train: Dataset, tc: TrainConfig, epoch: int, *,
                progress: bool, last_good: str) -> tuple[np.ndarray, float]:
    """One epoch of shuffled batches: (each step's training loss, seconds). A non-finite loss
    stops training, naming the step, the epoch and the last good checkpoint."""
    from tqdm import tqdm
    bar = tqdm(total=len(train), desc=f"epoch {epoch + 1}", unit="ex", unit_scale=True,
               disable=not progress, leave=False, file=sys.stderr)
    t0, losses, pending = time.perf_counter(), [], None
    process = getattr(trainer, "process", (0, 1))      # (index, count) of this process
    for block, order in epoch_blocks(train, tc, epoch, process=process):
        # a stream over several processes: each block holds this process's part of the
        # global batches (train_chunks(local=True)); otherwise every process holds all rows
        local = {"local": True} if process[1] > 1 and not isinstance(train, Dataset) else {}
        chunks = trainer.train_chunks(block, order, **local)
        for chunk in chunks:
            if pending is not None:       # JAX dispatches ahead: count a chunk once computed
                losses.append(_finished(pending, bar))
            pending = chunk
    if pending is not None:
        losses.append(_finished(pending, bar))
    bar.close()
    step_losses = np.concatenate(losses)
    seconds = time.perf_counter() - t0
    bad = np.flatnonzero(~np.isfinite(step_losses))
    if bad.size:
        raise TrainingError(f"non-finite training loss at step {bad[0] + 1} of epoch {epoch + 1} "
                            f"(global step {epoch * len(step_losses) + bad[0] + 1}); last good "
                            f"checkpoint: {last_good}")
    return step_losses, seconds


def step_means(step_losses: np.ndarray, epoch: int, every: int) -> list[list]:
    """[[global step, mean loss of the `every` steps ending there], ...] of one epoch (the
    last window may be shorter); global steps count from 1 across epochs."""
    n = len(step_losses)
    ends = list(range(every, n, every)) + [n]
    return [[epoch * n + end, float(step_losses[max(0, end - every):end].mean())] for end in ends]


def _finished(chunk, bar) -> np.ndarray:
    """Wait for a chunk's losses (the next chunk is already queued), then move the bar."""
    rows, chunk_losses = chunk
    values = np.asarray(chunk_losses, np.float64).ravel()
    bar.update(rows)
    return values


def epoch_batches(rows: int, tc: TrainConfig, epoch: int) -> list[np.ndarray]:
    """The epoch's shuffled batches. A final batch of one row is left out (BatchNorm in
    training mode needs two rows, in either framework); every other row trains."""
    order = batch_order(rows, tc.batch_size, seed=tc.seed, epoch=epoch)
    return order[:-1] if len(order) > 1 and len(order[-1]) == 1 else order


def epoch_blocks(train, tc: TrainConfig, epoch: int, *, process=(0, 1)):
    """The epoch's (rows, batches) blocks: a Dataset's one block of epoch_batches, or a
    streamed split's shuffle buffers (dcnmix.data.streaming; process: (index, count))."""
    if isinstance(train, Dataset):
        return [(train, epoch_batches(len(train), tc, epoch))]
    return train.blocks(tc.batch_size, seed=tc.seed, epoch=epoch, buffer_rows=tc.shuffle_buffer,
                        process=process[0], processes=process[1])


def check_data(splits, cfg: ModelConfig) -> None:
    """Every split's ids inside the model's table and its typed inputs the model's; a
    streamed split checks each shard's ids as it reads it (against the feature map's
    feat_dim, which must fit the model's)."""
    for part in splits:
        if isinstance(part, Dataset):
            check_ids(part.ids, cfg.feat_dim, part.field_names)
        else:
            part.check_feat_dim(cfg.feat_dim)
        part.check_inputs(cfg)


def check_splits(splits) -> None:
    """Refuse, before training, splits that cannot train or be scored: an empty split, a
    training split of one row, a validation or test split with one class (AUC undefined)."""
    for name, part in zip(("training", "validation", "test"), splits):
        if len(part) == 0:
            raise TrainingError(f"the {name} split is empty")
        if name == "training" and len(part) < 2:
            raise TrainingError("the training split has one row (BatchNorm needs two)")
        if name != "training" and len(np.unique(part.labels)) < 2:
            raise TrainingError(f"the {name} split has only label {int(part.labels[0])} "
                                f"({len(part):,} rows): AUC is undefined; check the split")


def check_divergence(progress: Progress, loss: float, tc: TrainConfig, last_good: str) -> None:
    """Stop when the mean training loss exceeds tc.divergence x the first epoch's."""
    if not tc.divergence or not progress.history:
        return
    first = progress.history[0]["train_loss"]
    if loss > tc.divergence * first:
        raise TrainingError(f"training diverged at epoch {progress.epochs_done + 1}: mean loss "
                            f"{loss:.4g} > {tc.divergence:g} x the first epoch's {first:.4g} "
                            f"(--divergence); last good checkpoint: {last_good}")


def next_learning_rate(progress: Progress, tc: TrainConfig, improved: bool) -> float:
    """Reduce-on-plateau: lr x lr_decay after an epoch without gain, never below min_lr."""
    if improved or not tc.lr_decay or progress.lr <= tc.min_lr:
        return progress.lr
    return max(progress.lr * tc.lr_decay, tc.min_lr)


def should_stop(progress: Progress, tc: TrainConfig) -> bool:
    """Early stopping: `patience` epochs without validation-AUC gain (the seed's rule)."""
    best = progress.best["epoch"]
    return best > 0 and progress.epochs_done - best >= tc.patience


def run_identity(cfg: ModelConfig, tc: TrainConfig, framework: str, data: DataSpec | None,
                 splits=None) -> dict:
    """What must not change across --resume (the epoch budget may): the configs, the data's
    spec and, when splits are given, their content (dcnmix.data.fingerprint)."""
    train = {k: v for k, v in tc.to_dict().items() if k != "epochs"}
    identity = {"config": cfg.to_dict(), "framework": framework, "train": train,
                "data": data.to_dict() if data is not None else None}
    if splits is not None:
        identity["data_sha256"] = fingerprint(splits)
    return identity


def _start(folder: RunFolder, trainer: Trainer, cfg, tc, identity, resume: bool, log) -> Progress:
    """Progress restored from the checkpoint (with --resume), else a fresh start."""
    found = folder.read_checkpoint(identity) if resume else None
    if found is None:
        progress = Progress(lr=tc.lr)
        folder.save_weights("init.safetensors", trainer.arrays(), cfg, {"run_id": progress.run_id})
        return progress
    progress, state = found
    try:
        trainer.restore_state(state)
    except Exception as exc:   # the digest matched, so the file was written this way
        raise RunError(f"{folder.checkpoint_dir}: the training state named by run.json does not "
                       f"restore into this {type(trainer).__name__} ({type(exc).__name__}: {exc})"
                       ) from None
    if progress.lr != tc.lr:
        trainer.set_learning_rate(progress.lr)
    log(f"resumed after epoch {progress.epochs_done} (best validation AUC "
        f"{progress.best['auc']:.5f} at epoch {progress.best['epoch']})")
    return progress


def _epoch(folder, trainer, cfg, tc, splits, progress: Progress, identity, show: bool, log,
           log_every: int = 0) -> dict:
    """Train one epoch, evaluate, keep the best weights, decay lr, write the checkpoint;
    returns the epoch's history row (with log_every, its per-step losses under step_loss)."""
    train, valid, _ = splits
    epoch = progress.epochs_done
    last_good = f"{folder.checkpoint_dir} (after epoch {epoch})" if epoch else "none (first epoch)"
    step_losses, seconds = train_epoch(trainer, train, tc, epoch, progress=show, last_good=last_good)
    loss = float(step_losses.mean())
    check_divergence(progress, loss, tc, last_good)
    metrics = evaluate(trainer, valid)
    improved = metrics["auc"] > progress.best["auc"]
    row = {"epoch": epoch + 1, "train_loss": loss, "val_auc": metrics["auc"],
           "val_logloss": metrics["logloss"], "seconds": seconds,
           "examples_per_s": len(train) / seconds, "lr": progress.lr}
    if log_every:
        row["step_loss"] = step_means(step_losses, epoch, log_every)
    progress.history.append(row)
    progress.train_seconds += seconds
    if improved:
        progress.best = {"epoch": epoch + 1, "auc": metrics["auc"], "logloss": metrics["logloss"]}
        folder.save_weights("best.safetensors", trainer.arrays(), cfg,
                            {"epoch": epoch + 1, "val_auc": metrics["auc"], "run_id": progress.run_id})
    lr = next_learning_rate(progress, tc, improved)
    if lr != progress.lr:
        trainer.set_learning_rate(lr)
        progress.lr = lr
    folder.write_checkpoint(progress, identity, trainer.state_file, trainer.state_bytes())
    log(f"epoch {epoch + 1}: loss {loss:.5f}  val AUC {metrics['auc']:.5f}  "
        f"val logloss {metrics['logloss']:.5f}  {len(train) / seconds:,.0f} ex/s"
        + ("  *" if improved else ""))
    return row


def _summary(trainer, cfg, tc, splits, progress: Progress, framework, data, wall0, test) -> dict:
    train, valid, test_set = splits
    return {"framework": framework, "config": cfg.to_dict(), "train": tc.to_dict(),
            "data": data.resolved().to_dict() if data is not None else None,
            "params": trainer.n_params, "epochs_run": progress.epochs_done,
            "best_epoch": progress.best["epoch"], "val_auc": progress.best["auc"],
            "val_logloss": progress.best["logloss"], "test_auc": test and test["auc"],
            "test_logloss": test and test["logloss"], "train_seconds": progress.train_seconds,
            "wall_seconds_this_process": time.time() - wall0,
            "train_examples_per_s": len(train) * progress.epochs_done / max(progress.train_seconds, 1e-9),
            "rows": {"train": len(train), "valid": len(valid), "test": len(test_set)},
            **trainer.notes()}


def fit(cfg: ModelConfig, tc: TrainConfig, splits, out: str, *, framework: str = "jax",
        resume: bool = False, overwrite: bool = False, progress: bool = True, log=print,
        mesh=None, data: DataSpec | None = None, data_budget: int | None = None,
        hooks=(), log_every: int = 0, test: bool = True) -> dict:
    """Train with early stopping; returns the summary (also written to out/summary.json).

    data: the spec the splits came from, recorded in the run folder and checked on resume.
    The folder is locked for this process; one that holds a run needs resume or overwrite.
    mesh: a jax.sharding.Mesh (dcnmix_jax.sharding) to train data-parallel with the table
    row-sharded; the checkpoints do not depend on it, so a run may resume on another mesh.
    hooks: observers of each epoch (dcnmix.tracking: TensorBoard; a search's pruner), told
    every history row after its checkpoint is written; one may raise to stop the run (its
    folder then resumes). log_every: also record the mean loss of every N steps
    (metrics.jsonl step lines). test=False: no test metrics (a search looks at validation
    only; summary test_auc is null). A run stopped by TrainingError (divergence, a
    non-finite loss) leaves OUT/failed.json saying why."""
    check_supported(framework, cfg, tc, mesh=mesh is not None)
    check_data(splits, cfg)
    check_splits(splits)
    folder = RunFolder(out)
    folder.claim(resume=resume, overwrite=overwrite)
    state = identity = None
    try:
        folder.prepare()
        folder.save_feature_map(splits[0].vocab)
        trainer = make_trainer(framework, cfg, tc, mesh, data_budget)
        identity = run_identity(cfg, tc, framework, data, splits)
        state = _start(folder, trainer, cfg, tc, identity, resume, log)
        tracking.start(hooks, folder=folder.out, config=cfg, train_config=tc, progress=state)
        wall0 = time.time()
        while state.epochs_done < tc.epochs and not should_stop(state, tc):
            row = _epoch(folder, trainer, cfg, tc, splits, state, identity, progress, log,
                         log_every)
            tracking.epoch(hooks, row)
        trainer.load_arrays(folder.load_weights("best.safetensors", cfg, run_id=state.run_id))
        summary = _summary(trainer, cfg, tc, splits, state, framework, data, wall0,
                           evaluate(trainer, splits[2]) if test else None)
        folder.write_summary({**summary, "run_id": state.run_id})
        folder.clear_failure()
        return summary
    except TrainingError as exc:    # a diverging or non-finite loss (the splits passed above)
        folder.write_failure("diverged", str(exc), state.epochs_done if state else 0, identity)
        raise
    finally:
        tracking.close(hooks)
        folder.release()


def set_threads(framework: str, threads: int) -> None:
    """At most `threads` CPU threads in the backend `framework` (XLA: only if set before jax
    initialises its backend; torch: at once)."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    backends.get(framework).set_threads(threads)


def use_compilation_cache(framework: str, setting: str | None = "default", log=print) -> str | None:
    """Keep the backend's compiled programs between processes (docs/speed.md); returns the
    folder in use or None. setting: 'default' ($DCNMIX_COMPILATION_CACHE when set, else the
    user's cache folder, dcnmix.files.cache_root()/compiled/FRAMEWORK), 'off' or None (off),
    or a folder. A folder that cannot be made is a warning, not an error."""
    if setting == "default":
        setting = os.environ.get(COMPILATION_CACHE_ENV) or os.path.join(
            files.cache_root(), "compiled", framework)
    if setting is None or str(setting).lower() in ("off", "none", "0", "false", "no"):
        return None
    try:
        os.makedirs(setting, exist_ok=True)
    except OSError as exc:
        log(f"warning: no compilation cache: cannot make {setting} ({exc.strerror})")
        return None
    return backends.get(framework).compilation_cache(os.fspath(setting))


class Trained(NamedTuple):
    """What `train` returns: the summary (as in summary.json) and the run folder's path."""

    summary: dict
    folder: str


def as_splits(data, split_seed: int = 0, log=print, **options
              ) -> tuple[tuple[Dataset, Dataset, Dataset], DataSpec | None]:
    """(train, valid, test) and the spec (if any) from a dataset spec string or DataSpec, a
    DataFrame (polars, pandas) or Arrow table of raw columns, one Dataset (split 80/10/10 by
    split_seed), three Datasets, or arrays (ids [n, fields], labels [n]). `options`: the
    DataOptions fields (dcnmix.data.options: label, categorical, numeric, dense, multivalued,
    order_by, ...) for a spec string or a frame."""
    from .data.frames import is_frame, frame_spec
    if is_frame(data):
        data = frame_spec(data, split_seed=split_seed, log=log, **options)
    elif options and not isinstance(data, str):
        raise TypeError(f"data options {sorted(options)} apply to a spec string or a DataFrame, "
                        f"not to {type(data).__name__}")
    if isinstance(data, str):
        data = DataSpec(spec=data, split_seed=split_seed, **options)
    if isinstance(data, DataSpec):
        return data.load(log=log), data
    if isinstance(data, Dataset):
        return split(data, seed=split_seed), None
    if isinstance(data, (tuple, list)) and len(data) == 3 and all(isinstance(d, Dataset) for d in data):
        return tuple(data), None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        ids, labels = (np.asarray(x) for x in data)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D [rows, fields], got shape {ids.shape}")
        fields = ids.shape[1]
        dataset = Dataset(ids, labels, tuple(f"f{i}" for i in range(fields)),
                          tuple(int(c) for c in ids.max(0) - ids.min(0) + 1), int(ids.max()) + 1)
        return split(dataset, seed=split_seed), None
    raise TypeError("data must be a dataset spec (str or DataSpec), a Dataset, three Datasets "
                    f"or (ids, labels) arrays; got {type(data).__name__}")


def train(config, data="synthetic", *, out: str = "runs/latest", framework: str = "jax",
          train_config: TrainConfig | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True,
          log=print, mesh=None, threads: int | None = None,
          data_budget: int | None = None, compilation_cache: str | None = "default",
          hooks=(), log_every: int = 0, **data_options) -> Trained:
    """Train a DCN or a baseline in either framework and write its run folder; the CLI is a
    thin layer over it.

        from dcnmix import train, TrainConfig
        summary, folder = train({"order_num": 2}, "synthetic", out="runs/demo",
                                train_config=TrainConfig(epochs=3))

    config: a ModelConfig, or a dict of its fields (variant options by name allowed) where
    field_num and feat_dim default to the data's, and the rest to model_defaults(model): a
    DCN's emb_num 16 and order_num 2, a baseline's seed preset ({"model": "fm"}).
    data_budget: bytes of training data kept on the device (JAX); a larger split streams.
    compilation_cache: where compiled programs are kept between runs ('default': the user's
    cache folder; 'off'; or a folder; see use_compilation_cache).
    hooks, log_every: observers of each epoch (dcnmix.tracking.TensorBoard) and per-step
    loss records, as in `fit`.

    data may be a DataFrame (polars or pandas) or an Arrow table of raw columns, typed by
    `data_options` (the DataOptions fields; the same options as `dcnmix prepare`):

        train({"order_num": 2}, df, label="click", positive="yes", categorical=["site"],
              dense=["ctr", "price"], multivalued=["tags"], order_by="ts")
    """
    tc = train_config or TrainConfig()
    if threads is not None:
        set_threads(framework, threads)
    use_compilation_cache(framework, compilation_cache, log=log)
    splits, spec = as_splits(data, log=log, **data_options)
    if not isinstance(config, ModelConfig):
        config = dict(config)
        config = ModelConfig.create(**{"field_num": splits[0].field_num,
                                       "feat_dim": splits[0].feat_dim, **splits[0].typed_inputs(),
                                       **model_defaults(config.get("model", "dcn")), **config})
    name = spec.spec if spec is not None else type(data).__name__
    log(f"{name}: {len(splits[0]):,} / {len(splits[1]):,} / {len(splits[2]):,} rows, "
        f"{splits[0].field_num} fields, {splits[0].feat_dim:,} ids; {framework} {config}")
    summary = fit(config, tc, splits, out, framework=framework, resume=resume,
                  overwrite=overwrite, progress=progress, log=log, mesh=mesh, data=spec,
                  data_budget=data_budget, hooks=hooks, log_every=log_every)
    return Trained(summary, os.fspath(out))
