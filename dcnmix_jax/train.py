"""Train a DCN with early stopping on validation AUC: `python -m dcnmix_jax.train` / `dcnmix-train`.

The loop is framework-free; --framework picks the JAX backend (jitted, donated TrainState)
or the PyTorch twin, both fed exactly the same batches. Output folder:
  metrics.jsonl      one line per epoch (loss, validation AUC / logloss, examples/s)
  summary.json       config, parameter count, best epoch, validation/test AUC and logloss, times
  init.safetensors   the initial weights; best.safetensors the best model (the parity
                     suite's layout, loads in both frameworks; `python -m dcnmix_jax.svd` reads both)
  checkpoint/        state after the last finished epoch, for --resume (written atomically)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from .config import ACTIVATIONS, GATES, INITS, PRESETS, VARIANT_FIELDS, ModelConfig
from .data import batch_order, check_ids
from .datasets import DatasetSpecError, load_splits


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    patience: int = 10
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    emb_weight_decay: float | None = None
    embedding_optimizer: str = "dense"
    lr_decay: float | None = None  # multiply lr by this after an epoch without gain
    min_lr: float = 1e-6
    seed: int = 0


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, unusable output folder, mismatched resume)."""


def make_backend(framework: str, cfg: ModelConfig, tc: TrainConfig, mesh=None):
    if framework == "jax":
        from .backend import JaxBackend
        return JaxBackend(cfg, lr=tc.lr, weight_decay=tc.weight_decay, seed=tc.seed,
                          emb_weight_decay=tc.emb_weight_decay,
                          embedding_optimizer=tc.embedding_optimizer, mesh=mesh)
    if mesh is not None:
        raise ValueError("--mesh is a JAX option; the twin trains on one device")
    if tc.embedding_optimizer != "dense":
        raise ValueError("--embedding-optimizer lazy is a JAX option; the twin uses torch's Adam")
    from dcnmix_torch.backend import TorchBackend
    return TorchBackend(cfg, lr=tc.lr, weight_decay=tc.weight_decay, seed=tc.seed,
                        emb_weight_decay=tc.emb_weight_decay)


def evaluate(backend, dataset) -> dict:
    from sklearn.metrics import log_loss, roc_auc_score
    probs = backend.predict(dataset.ids)
    return {"auc": float(roc_auc_score(dataset.labels, probs)),
            "logloss": float(log_loss(dataset.labels, np.clip(probs, 1e-7, 1 - 1e-7), labels=[0, 1]))}


def _write_json(path: str, obj) -> None:
    from parity.checkpoint import atomic_write_bytes
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _check_output_folder(out: str) -> None:
    """Fail before training if the folder cannot be written (or the disk is full)."""
    try:
        os.makedirs(os.path.join(out, "checkpoint"), exist_ok=True)
        probe = os.path.join(out, ".write-test")
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 65536)
            fh.flush()
            os.fsync(fh.fileno())
        os.unlink(probe)
    except OSError as exc:
        raise TrainingError(f"output folder {out!r} is not writable: {exc.strerror or exc}") from None


def fit(cfg: ModelConfig, tc: TrainConfig, splits, out: str, *, framework: str = "jax",
        resume: bool = False, progress: bool = True, log=print, mesh=None) -> dict:
    """Train with early stopping; returns the summary (also written to out/summary.json).
    mesh: a jax.sharding.Mesh (dcnmix_jax.sharding) to train data-parallel with the table
    row-sharded; the checkpoints do not depend on it, so a run may resume on another mesh."""
    from parity import checkpoint
    from parity.checkpoint import atomic_write_bytes
    from tqdm import tqdm
    train, valid, test = splits
    for part in splits:
        check_ids(part.ids, cfg.feat_dim, part.field_names)
    _check_output_folder(out)
    backend = make_backend(framework, cfg, tc, mesh)
    ckpt_dir = os.path.join(out, "checkpoint")
    run_path = os.path.join(ckpt_dir, "run.json")
    history, best, start_epoch, train_seconds = [], {"epoch": 0, "auc": -1.0}, 0, 0.0
    lr = tc.lr
    # what must not change across --resume (the epoch budget may)
    identity = {"config": cfg.kwargs(), "framework": framework,
                "train": {k: v for k, v in dataclasses.asdict(tc).items() if k != "epochs"}}
    if resume and os.path.exists(run_path):
        with open(run_path) as fh:
            run = json.load(fh)
        if run["identity"] != json.loads(json.dumps(identity)):
            raise TrainingError(f"{run_path}: the checkpoint is for another run "
                                f"({run['identity']}), not this one ({identity})")
        with open(os.path.join(ckpt_dir, run["state"]), "rb") as fh:
            backend.restore_state(fh.read())
        history, best, train_seconds = run["history"], run["best"], run["train_seconds"]
        lr = run.get("lr", tc.lr)
        start_epoch = len(history)
        log(f"resumed after epoch {start_epoch} (best validation AUC {best['auc']:.5f} "
            f"at epoch {best['epoch']})")
    else:
        checkpoint.save(os.path.join(out, "init.safetensors"), backend.arrays(), cfg)
    wall0 = time.time()
    for epoch in range(start_epoch, tc.epochs):
        if epoch - best["epoch"] >= tc.patience and best["epoch"] > 0:
            break
        order = batch_order(len(train), tc.batch_size, seed=tc.seed, epoch=epoch)
        bar = tqdm(total=len(train), desc=f"epoch {epoch + 1}", unit="ex", unit_scale=True,
                   disable=not progress, leave=False, file=sys.stderr)
        t0, losses = time.perf_counter(), []
        for rows, chunk_losses in backend.train_chunks(train, order):
            losses.append(chunk_losses)
            bar.update(rows)
        bar.close()
        step_losses = np.concatenate([np.asarray(x, np.float64).ravel() for x in losses])
        seconds = time.perf_counter() - t0
        bad = np.flatnonzero(~np.isfinite(step_losses))
        if bad.size:
            last = f"{ckpt_dir} (after epoch {epoch})" if epoch else "none (first epoch)"
            raise TrainingError(f"non-finite training loss at step {bad[0] + 1} of epoch "
                                f"{epoch + 1} (global step {epoch * len(order) + bad[0] + 1}); "
                                f"last good checkpoint: {last}")
        loss = float(step_losses.mean())
        metrics = evaluate(backend, valid)
        row = {"epoch": epoch + 1, "train_loss": loss, "val_auc": metrics["auc"],
               "val_logloss": metrics["logloss"], "seconds": seconds,
               "examples_per_s": len(train) / seconds}
        history.append(row)
        train_seconds += seconds
        row["lr"] = lr
        if metrics["auc"] > best["auc"]:
            best = {"epoch": epoch + 1, "auc": metrics["auc"], "logloss": metrics["logloss"]}
            checkpoint.save(os.path.join(out, "best.safetensors"), backend.arrays(), cfg,
                            {"epoch": epoch + 1, "val_auc": metrics["auc"]})
        elif tc.lr_decay and lr > tc.min_lr:
            lr = max(lr * tc.lr_decay, tc.min_lr)
            backend.set_learning_rate(lr)
        # the state file is named by epoch and run.json, written last, names it: a kill at any
        # moment leaves run.json pointing at a complete, matching state
        state_name = f"epoch-{epoch + 1}-{backend.state_file}"
        atomic_write_bytes(os.path.join(ckpt_dir, state_name), backend.state_bytes())
        _write_json(run_path, {"identity": identity, "history": history, "best": best,
                               "train_seconds": train_seconds, "lr": lr, "state": state_name})
        for old in os.listdir(ckpt_dir):
            if old.startswith("epoch-") and old != state_name:
                os.unlink(os.path.join(ckpt_dir, old))
        atomic_write_bytes(os.path.join(out, "metrics.jsonl"),
                           "".join(json.dumps(h) + "\n" for h in history).encode())
        log(f"epoch {epoch + 1}: loss {loss:.5f}  val AUC {metrics['auc']:.5f}  "
            f"val logloss {metrics['logloss']:.5f}  {row['examples_per_s']:,.0f} ex/s"
            + ("  *" if best["epoch"] == epoch + 1 else ""))
    arrays, _, _ = checkpoint.load(os.path.join(out, "best.safetensors"))
    backend.load_arrays(arrays)
    test_metrics = evaluate(backend, test)
    summary = {"framework": framework, "config": cfg.kwargs(), "train": dataclasses.asdict(tc),
               "params": backend.n_params, "epochs_run": len(history), "best_epoch": best["epoch"],
               "val_auc": best["auc"], "val_logloss": best["logloss"],
               "test_auc": test_metrics["auc"], "test_logloss": test_metrics["logloss"],
               "train_seconds": train_seconds, "wall_seconds_this_process": time.time() - wall0,
               "train_examples_per_s": len(train) * len(history) / max(train_seconds, 1e-9),
               "rows": {"train": len(train), "valid": len(valid), "test": len(test)}}
    _write_json(os.path.join(out, "summary.json"), summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dcnmix-train", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic (default) | frappe[:DIR] | criteo:PATH | libfm:PATH | csv:PATH")
    p.add_argument("--framework", choices=("jax", "torch"), default="jax")
    p.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    m = p.add_argument_group("model (dcnmix DCN arguments)")
    m.add_argument("--cross", choices=("mix", "full"), default="mix")
    m.add_argument("--method", choices=("parallel", "stacked"), default="parallel")
    m.add_argument("--order-num", type=int, default=2)
    m.add_argument("--emb-num", type=int, default=16)
    m.add_argument("--r", type=int, default=16)
    m.add_argument("--k", type=int, default=4)
    m.add_argument("--dropout", type=float, default=0.1)
    m.add_argument("--hidden-nums", default="128,64,32", help="comma-separated sizes")
    v = p.add_argument_group("DCN-Mix variant (README: Variants); a preset, then single options")
    v.add_argument("--preset", choices=tuple(PRESETS), default="seed")
    v.add_argument("--gate", choices=GATES, default=None)
    v.add_argument("--gate-bias", type=_on_off, default=None, metavar="on|off")
    v.add_argument("--shared-gates", type=_on_off, default=None, metavar="on|off")
    v.add_argument("--expert-bias", type=_on_off, default=None, metavar="on|off",
                   help="on: a bias per expert (seed); off: one per layer (paper)")
    v.add_argument("--activation", choices=ACTIVATIONS, default=None)
    v.add_argument("--c-matrix", type=_on_off, default=None, metavar="on|off")
    v.add_argument("--init-scheme", choices=INITS, default=None)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=100, help="most epochs (early stopping ends sooner)")
    t.add_argument("--patience", type=int, default=10, help="epochs without validation-AUC gain")
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=0.0, help="torch Adam's coupled L2")
    t.add_argument("--lr-decay", type=float, default=None,
                   help="multiply the learning rate by this after each epoch without validation "
                        "gain (reduce-on-plateau, as FuxiCTR; off by default, the seed has none)")
    t.add_argument("--emb-weight-decay", type=float, default=None,
                   help="L2 on the embedding table alone (default: --weight-decay)")
    t.add_argument("--embedding-optimizer", choices=("dense", "lazy"), default="dense",
                   help="jax: 'lazy' updates only the embedding rows of each batch (large tables)")
    t.add_argument("--seed", type=int, default=0)
    so = p.add_argument_group("scale-out (jax; see the README's multi-host section)")
    so.add_argument("--mesh", default=None,
                   help="DATAxMODEL devices, e.g. 4x2: batches split over DATA, the embedding "
                        "table row-sharded over MODEL (default: one device)")
    so.add_argument("--coordinator", default=None,
                   help="HOST:PORT of process 0 for jax.distributed.initialize (multi-process); "
                        "'auto' lets JAX detect the cluster (TPU pods, SLURM)")
    so.add_argument("--num-processes", type=int, default=None)
    so.add_argument("--process-id", type=int, default=None)
    d = p.add_argument_group("data")
    d.add_argument("--synthetic-rows", type=int, default=100_000)
    d.add_argument("--label", default="label", help="csv: label column")
    d.add_argument("--categorical", default="", help="csv: comma-separated categorical columns")
    d.add_argument("--numeric", default="", help="csv: comma-separated numeric columns")
    d.add_argument("--min-count", type=int, default=2, help="criteo/csv: vocabulary threshold")
    return p


def _on_off(text: str) -> bool:
    if text.lower() not in ("on", "off", "true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() in ("on", "true", "1")


def _variant(args) -> dict:
    """The preset's variant options with the single-option flags applied over them."""
    options = dict(PRESETS[args.preset])
    options.update({f: getattr(args, f) for f in VARIANT_FIELDS if getattr(args, f) is not None})
    return options


def _csv_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv=None, framework: str | None = None) -> int:
    args = build_parser().parse_args(argv)
    framework = framework or args.framework
    from .data import DataError
    from parity.checkpoint import CheckpointError
    try:
        mesh, out = _scale_out(args, framework)
        hidden = tuple(int(h) for h in _csv_list(args.hidden_nums))
        splits = load_splits(args.dataset, synthetic_rows=args.synthetic_rows, seed=args.seed,
                             label=args.label, categorical=_csv_list(args.categorical),
                             numeric=_csv_list(args.numeric), min_count=args.min_count)
        train = splits[0]
        cfg = ModelConfig(field_num=train.field_num, feat_dim=train.feat_dim, emb_num=args.emb_num,
                          order_num=args.order_num, r=args.r, k=args.k, dropout=args.dropout,
                          method=args.method, hidden_nums=hidden, cross=args.cross,
                          **_variant(args))
        tc = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                         lr=args.lr, weight_decay=args.weight_decay,
                         emb_weight_decay=args.emb_weight_decay,
                         embedding_optimizer=args.embedding_optimizer, lr_decay=args.lr_decay,
                         seed=args.seed)
        print(f"{args.dataset}: {len(splits[0]):,} / {len(splits[1]):,} / {len(splits[2]):,} rows, "
              f"{train.field_num} fields, {train.feat_dim:,} ids; {framework} {cfg}", flush=True)
        summary = fit(cfg, tc, splits, out, framework=framework, resume=args.resume,
                      progress=not args.no_progress, mesh=mesh)
    except (DataError, DatasetSpecError, TrainingError, CheckpointError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; resume with --resume --out {args.out}", file=sys.stderr)
        return 130
    print(f"best epoch {summary['best_epoch']}: val AUC {summary['val_auc']:.5f}; "
          f"test AUC {summary['test_auc']:.5f}, test logloss {summary['test_logloss']:.5f}; "
          f"{summary['params']:,} parameters; {summary['train_examples_per_s']:,.0f} train ex/s "
          f"-> {out}/summary.json")
    return 0


def _scale_out(args, framework: str):
    """(mesh or None, output folder of this process) from --mesh / --coordinator.

    Every process trains the same global model on its shards; process 0 writes --out, process
    i > 0 its own copy under OUT/process-i (so each host can resume without a shared disk)."""
    if args.coordinator is None and args.mesh is None:
        return None, args.out
    if framework != "jax":
        raise ValueError("--mesh and --coordinator are JAX options; the twin trains on one device")
    import jax
    if args.coordinator is not None:
        if args.coordinator == "auto":
            jax.distributed.initialize()
        else:
            jax.distributed.initialize(coordinator_address=args.coordinator,
                                       num_processes=args.num_processes,
                                       process_id=args.process_id)
    from .sharding import make_mesh, parse_mesh
    data, model = parse_mesh(args.mesh) if args.mesh else (jax.device_count(), 1)
    mesh = make_mesh(data, model)
    index = jax.process_index()
    out = args.out if index == 0 else os.path.join(args.out, f"process-{index}")
    print(f"mesh {data}x{model} (data x model) over {jax.device_count()} {jax.devices()[0].platform} "
          f"devices, process {index} of {jax.process_count()}", flush=True)
    return mesh, out


if __name__ == "__main__":
    sys.exit(main())
