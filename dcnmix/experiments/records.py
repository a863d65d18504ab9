"""What a run folder holds, as one flat row (`dcnmix runs`, `dcnmix plot`): read from its
summary.json (a finished run), failed.json (a run stopped by divergence or a non-finite
loss), checkpoint/run.json (an interrupted one) and metrics.jsonl.

    find(["sweeps/a", "runs/b"])   the run folders at or under the paths
    record("runs/b")               {"run", "model", "framework", "status", "val_auc", ...}
    with_options(rows)             each row's options that differ across the rows

A status is finished, interrupted, diverged, running (another process holds the folder's
lock now) or unreadable (a file that is not what dcnmix writes; `error` says which).
"""
from __future__ import annotations

import fcntl
import json
import os

from ..run import RunError, RunFolder, read_metrics

COLUMNS = ("run", "model", "options", "framework", "status", "epochs", "best_epoch", "val_auc",
           "val_logloss", "test_auc", "test_logloss", "params", "examples_per_s",
           "train_seconds")
# what marks a folder as a run's
MARKS = ("summary.json", "failed.json", os.path.join("checkpoint", "run.json"))
# options a row's model label already says, or that every run has its own of
NOT_OPTIONS = ("field_num", "feat_dim", "model", "cross", "method", "order_num", "epochs")


def is_run(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, mark)) for mark in MARKS)


def find(paths) -> list[str]:
    """The run folders among `paths` and the folders under them (sorted; a run folder's own
    subfolders are not searched). A path that does not exist, or holds no run, is an error."""
    found = []
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"{path}: no such folder")
        before = len(found)
        for folder, subfolders, _ in os.walk(path):
            subfolders.sort()
            if is_run(folder):
                found.append(os.path.normpath(folder))
                subfolders.clear()
        if len(found) == before:
            raise ValueError(f"{path}: holds no run folder (one with summary.json or "
                             "checkpoint/run.json: `dcnmix train --out`)")
    return found


def record(folder: str) -> dict:
    """One run folder's row: COLUMNS, `error` when unreadable or stopped by a failure, and
    `config`, `train`, `history` (epoch lines) and `steps` (step lines of metrics.jsonl)."""
    row = dict.fromkeys(COLUMNS)
    row["run"] = folder
    try:
        row.update(_read(RunFolder(folder)))
    except (RunError, OSError, ValueError, KeyError, TypeError) as exc:
        row.update(status="unreadable", error=str(exc))
    return row


def _read(folder: RunFolder) -> dict:
    summary = _optional(folder, "summary.json")
    failed = _optional(folder, "failed.json")
    progress = _optional(folder, os.path.join("checkpoint", "run.json"))
    epochs, steps = _metrics(folder)
    identity = summary or (progress or {}).get("identity") or (failed or {}).get("identity") or {}
    row = {"config": identity.get("config"), "train": identity.get("train"),
           "framework": identity.get("framework"), "history": epochs, "steps": steps,
           "epochs": len(epochs) if epochs else len((progress or {}).get("history", ()))}
    if row["config"] is not None:
        row["model"] = model_label(row["config"])
    if summary:
        row.update({k: summary.get(k) for k in ("best_epoch", "val_auc", "val_logloss", "test_auc",
                                                 "test_logloss", "params", "train_seconds")},
                   epochs=summary.get("epochs_run"),
                   examples_per_s=summary.get("train_examples_per_s"))
    elif progress:
        best = progress.get("best", {})
        row.update(best_epoch=best.get("epoch") or None, val_auc=best.get("auc"),
                   val_logloss=best.get("logloss"), train_seconds=progress.get("train_seconds"))
        if epochs:
            row["examples_per_s"] = sum(e["examples_per_s"] for e in epochs) / len(epochs)
    row["status"] = ("running" if _locked(folder) else "finished" if summary
                     else failed.get("status", "failed") if failed else "interrupted")
    if failed and not summary:
        row["error"] = failed.get("error")
    return row


def _optional(folder: RunFolder, name: str) -> dict | None:
    path = folder.path(name)
    if not os.path.exists(path):
        return None
    return RunFolder._read_json(path)


def _metrics(folder: RunFolder) -> tuple[list[dict], list[dict]]:
    """(epoch lines, step lines) of metrics.jsonl (none yet: empty)."""
    path = folder.path("metrics.jsonl")
    return read_metrics(path) if os.path.exists(path) else ([], [])


def _locked(folder: RunFolder) -> bool:
    """Another process holds the folder's lock (a trainer is writing it now)."""
    try:
        fh = open(folder.path(".lock"))
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def model_label(config: dict) -> str:
    """DCN-Mix-parallel-1 / DCN-V2-stacked-3 for a DCN (the seed table's names), else the
    model's name."""
    model = config.get("model", "dcn")
    if model != "dcn":
        return model
    cross = "DCN-Mix" if config.get("cross", "mix") == "mix" else "DCN-V2"
    return f"{cross}-{config.get('method', 'parallel')}-{config.get('order_num')}"


def flat_options(row: dict) -> dict:
    """A row's model and training options, one level (variant and typed-input options by
    their own names)."""
    out = {}
    for part in (row.get("config") or {}, row.get("train") or {}):
        for key, value in part.items():
            if isinstance(value, dict):
                out.update(value)
            elif key not in NOT_OPTIONS:
                out[key] = value
    return out


def with_options(rows: list[dict]) -> list[dict]:
    """The rows, each with `options`: 'key=value ...' of the options whose values differ
    across the rows (what tells the runs apart); empty for a single run."""
    flat = [flat_options(r) for r in rows]
    keys = sorted({k for f in flat for k in f})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    return [{**r, "options": " ".join(f"{k}={_text(f.get(k))}" for k in varying if k in f)}
            for r, f in zip(rows, flat)]


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "-" if value is None else str(value)


# sort keys where larger is better (listed best first); every other key sorts ascending
DESCENDING = ("val_auc", "test_auc", "examples_per_s", "epochs", "params")


def sort_rows(rows: list[dict], key: str) -> list[dict]:
    """Best first for a metric (AUC, ex/s descending; logloss, seconds ascending); rows
    without the value last."""
    if key not in COLUMNS:
        raise ValueError(f"--sort {key}: not a column (one of {', '.join(COLUMNS)})")
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=key in DESCENDING) + missing
