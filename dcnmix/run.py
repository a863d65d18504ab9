"""The run folder: everything one training run writes, and reads back to resume.

    OUT/init.safetensors     the initial weights (dcnmix.weights format)
    OUT/best.safetensors     the best weights by validation AUC
    OUT/metrics.jsonl        one line per finished epoch
    OUT/feature_map.json     how raw rows become ids (criteo, csv, parquet, prepared data)
    OUT/summary.json         the run's result: config, data, parameters, metrics, times
    OUT/failed.json          why training stopped without a result (diverged, non-finite loss)
    OUT/checkpoint/run.json  the resume record: identity, history, best, lr, state file name
    OUT/checkpoint/epoch-N-state.{msgpack,pt}   the backend's whole state after epoch N

Every file is written atomically (temporary file, fsync, rename); run.json is written after
its epoch's state file and names it, so a kill at any moment leaves run.json pointing at a
complete, matching state. Framework-free.

Ownership and integrity: a trainer holds an exclusive lock on OUT/.lock for its whole life
(flock: released by the kernel when the process ends, so a dead trainer leaves no stale
lock); a folder that holds a run is refused unless the run resumes or is overwritten; every
weights file carries the run's id, and the best weights are checked to be this run's; run.json
carries a sha256 of itself and of the state file it names, both checked on resume.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import uuid

from . import files
from .weights import WeightsError, atomic_write_bytes, load, save, write_json

# what a run leaves in its folder; --overwrite removes exactly these
RUN_FILES = ("init.safetensors", "best.safetensors", "metrics.jsonl", "summary.json",
             "feature_map.json", "failed.json", "checkpoint")


class RunError(RuntimeError):
    """The run folder cannot be used (unwritable, or holds another run's checkpoint)."""


@dataclasses.dataclass
class Progress:
    """What a run has done so far: per-epoch rows, the best epoch, the current lr, time."""

    history: list = dataclasses.field(default_factory=list)
    best: dict = dataclasses.field(default_factory=lambda: {"epoch": 0, "auc": -1.0})
    lr: float = 0.0
    train_seconds: float = 0.0
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def epochs_done(self) -> int:
        return len(self.history)


class RunFolder:
    """Paths and reads/writes of one run folder (see the module docstring)."""

    def __init__(self, out):
        self.out = os.fspath(out)
        self.checkpoint_dir = os.path.join(self.out, "checkpoint")
        self.run_json = os.path.join(self.checkpoint_dir, "run.json")

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def claim(self, *, resume: bool, overwrite: bool) -> None:
        """Lock the folder for this process (RunError if another trainer holds it); refuse a
        folder that holds a run unless it resumes (resume) or is replaced (overwrite)."""
        files.check_folder(self.out)
        try:
            os.makedirs(self.out, exist_ok=True)
            files.check_folder(self.checkpoint_dir)
            self._lock = files.open_lock(self.path(".lock"))
        except OSError as exc:
            raise RunError(f"output folder {self.out!r} is not writable: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise RunError(f"{self.out}: another trainer ({holder}) is using this run folder; "
                           "wait for it or choose another --out") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        present = [n for n in RUN_FILES if os.path.lexists(self.path(n))]
        if present and not resume and not overwrite:
            self.release()
            raise RunError(f"{self.out} holds a run already ({', '.join(present)}): --resume "
                           "continues it, --overwrite replaces it")
        if overwrite and not resume:
            for name in present:
                files.remove(self.path(name))

    def release(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None and not lock.closed:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            lock.close()

    def prepare(self) -> None:
        """Create the folder; fail before training if it cannot be written (or the disk is
        full); remove temporary files a killed writer left behind."""
        try:
            os.makedirs(self.checkpoint_dir, exist_ok=True)
            files.check_folder(self.checkpoint_dir)
            files.probe(self.out)
            for folder in (self.out, self.checkpoint_dir):
                for name in os.listdir(folder):
                    if name.startswith(files.TMP_PREFIX):
                        files.remove(os.path.join(folder, name))
        except OSError as exc:
            raise RunError(f"output folder {self.out!r} is not writable: "
                           f"{exc.strerror or exc}") from None

    def save_feature_map(self, vocab) -> None:
        """A copy of the data's feature map (when the data has one), so the run can encode
        new raw rows."""
        from .data.featuremap import FeatureMap
        if isinstance(vocab, FeatureMap):
            vocab.save(self.path("feature_map.json"))

    # ---------------------------------------------------------------- weights
    def save_weights(self, name: str, arrays: dict, config, extra: dict | None = None) -> None:
        save(self.path(name), arrays, config, extra)

    def load_weights(self, name: str, config=None, run_id: str | None = None) -> dict:
        """Torch-keyed arrays of OUT/name; with `config` / `run_id`, refused unless the file
        holds that configuration / was written by that run."""
        arrays, stored, meta = load(self.path(name))
        if config is not None and stored != config:
            raise WeightsError(f"{self.path(name)}: holds a model of another configuration "
                               f"({stored}), not this run's ({config})")
        if run_id is not None and meta.get("run_id") != run_id:
            raise WeightsError(f"{self.path(name)}: written by another run ({meta.get('run_id')}), "
                               f"not this one ({run_id})")
        return arrays

    # ---------------------------------------------------------------- resume
    def read_checkpoint(self, identity: dict) -> tuple[Progress, bytes] | None:
        """(progress, state bytes) of the last finished epoch, or None when there is none.
        Refused (RunError) when the checkpoint belongs to a run with another identity."""
        if not os.path.exists(self.run_json):
            return None
        record = self._read_json(self.run_json)
        exact = self._read(self.run_json) == (json.dumps(record, indent=2, sort_keys=True)
                                              + "\n").encode()
        if record.pop("sha256", None) != _digest(record) or not exact:
            raise RunError(f"{self.run_json}: contents do not match their sha256 (corrupt file)")
        try:
            stored, state_name = record["identity"], record["state"]
            progress = Progress(history=list(record["history"]), best=dict(record["best"]),
                                lr=float(record["lr"]), run_id=str(record["run_id"]),
                                train_seconds=float(record["train_seconds"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{self.run_json}: not a run record ({type(exc).__name__}: {exc})") from None
        changed = _differences(stored, as_recorded(identity))
        if changed:
            raise RunError(f"{self.run_json}: the checkpoint is for another run: "
                           + "; ".join(changed))
        state_path = os.path.join(self.checkpoint_dir, os.path.basename(str(state_name)))
        try:
            state = files.read_bytes(state_path, limit=files.STATE_LIMIT)
        except files.PathError as exc:
            raise RunError(f"{exc} (the state named by {self.run_json})") from None
        except OSError as exc:
            raise RunError(f"{state_path}: cannot read the state named by {self.run_json} "
                           f"({exc.strerror or exc})") from None
        if hashlib.sha256(state).hexdigest() != record.get("state_sha256"):
            raise RunError(f"{state_path}: contents do not match the sha256 in {self.run_json} "
                           "(corrupt file)")
        return progress, state

    def write_checkpoint(self, progress: Progress, identity: dict, state_file: str,
                         state: bytes) -> None:
        """The state after epoch progress.epochs_done, then run.json naming it, then the
        older states are removed and metrics.jsonl rewritten."""
        state_name = f"epoch-{progress.epochs_done}-{state_file}"
        atomic_write_bytes(os.path.join(self.checkpoint_dir, state_name), state)
        record = {"identity": identity, "history": progress.history, "best": progress.best,
                  "train_seconds": progress.train_seconds, "lr": progress.lr,
                  "run_id": progress.run_id, "state": state_name,
                  "state_sha256": hashlib.sha256(state).hexdigest()}
        write_json(self.run_json, {**record, "sha256": _digest(record)})
        for old in os.listdir(self.checkpoint_dir):
            if old.startswith("epoch-") and old != state_name:
                files.remove(os.path.join(self.checkpoint_dir, old))
        atomic_write_bytes(self.path("metrics.jsonl"), metrics_lines(progress.history).encode())

    # ---------------------------------------------------------------- result
    def write_summary(self, summary: dict) -> None:
        write_json(self.path("summary.json"), summary)

    def write_failure(self, status: str, error: str, epochs_done: int,
                      identity: dict | None = None) -> None:
        """failed.json: the run stopped without a result (status 'diverged' or 'failed'),
        with its identity (config, framework, train options) for `dcnmix runs`."""
        write_json(self.path("failed.json"), {"status": status, "error": error,
                                              "epochs_done": epochs_done, "identity": identity})

    def clear_failure(self) -> None:
        """A run that finishes (after a resume) no longer carries an earlier failure."""
        if os.path.lexists(self.path("failed.json")):
            files.remove(self.path("failed.json"))

    def read_summary(self) -> dict:
        return self._read_json(self.path("summary.json"))

    @staticmethod
    def _read(path: str, limit: int = files.JSON_LIMIT) -> bytes:
        """A run-folder file's bytes: regular files only, bounded (dcnmix.files.read_bytes)."""
        try:
            return files.read_bytes(path, limit=limit)
        except files.PathError as exc:
            raise RunError(str(exc)) from None
        except OSError as exc:
            raise RunError(f"{path}: cannot read ({exc.strerror or exc})") from None

    @classmethod
    def _read_json(cls, path: str) -> dict:
        raw = cls._read(path)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RunError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise RunError(f"{path}: expected a JSON object, found {type(data).__name__}")
        return data


def as_recorded(value):
    """`value` as a run record reads it back from JSON (tuples become lists): what a stored
    record is compared with."""
    return json.loads(json.dumps(value))


def metrics_lines(history: list) -> str:
    """metrics.jsonl: per epoch, its step lines ({"epoch", "step", "train_loss"}: the mean loss
    of the steps up to global step `step`, with --log-every) then its epoch line (the history
    row, which has val_auc)."""
    lines = []
    for row in history:
        lines += [{"epoch": row["epoch"], "step": step, "train_loss": loss}
                  for step, loss in row.get("step_loss", ())]
        lines.append({k: v for k, v in row.items() if k != "step_loss"})
    return "".join(json.dumps(line) + "\n" for line in lines)


def read_metrics(path: str) -> tuple[list, list]:
    """(epoch lines, step lines) of a metrics.jsonl (metrics_lines); a torn or foreign line
    is skipped."""
    epochs, steps = [], []
    with open(path) as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                (steps if "step" in row else epochs).append(row)
    return epochs, steps


def _differences(stored, current, where: str = "") -> list[str]:
    """'key: stored -> now' for each leaf that differs (a data_sha256 absent from a record
    written before it existed is not a difference)."""
    if isinstance(stored, dict) and isinstance(current, dict):
        keys = sorted(set(stored) | set(current))
        if not where and "data_sha256" not in stored:
            keys = [k for k in keys if k != "data_sha256"]
        return [d for k in keys for d in _differences(stored.get(k), current.get(k),
                                                      f"{where}.{k}" if where else k)]
    if stored == current:
        return []
    if where == "data_sha256":
        return ["the data differs from the data the run was trained on (content sha256 "
                f"{str(stored)[:12]}... then, {str(current)[:12]}... now)"]
    return [f"{where}: {stored!r} then, {current!r} now"]


def _digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()
