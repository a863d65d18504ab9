"""Observers of a training run (`fit(hooks=...)`): told when the run starts, after every
epoch (the history row, once its checkpoint is written) and when it ends. A hook may raise
from `epoch` to stop the run (a search's pruner, a time budget); the folder then resumes.

    TensorBoard(logdir)   event files through tensorboardX (the `tensorboard` extra):
                          train/loss per epoch and, with log_every, per N steps;
                          val/auc, val/logloss, lr per epoch
A hook is any object with some of start(**run), epoch(row), close(); none is required.
"""
from __future__ import annotations


def start(hooks, **run) -> None:
    for hook in hooks:
        if hasattr(hook, "start"):
            hook.start(**run)


def epoch(hooks, row: dict) -> None:
    for hook in hooks:
        if hasattr(hook, "epoch"):
            hook.epoch(row)


def close(hooks) -> None:
    for hook in hooks:
        if hasattr(hook, "close"):
            hook.close()


def need(module: str, *, extra: str, purpose: str):
    """An optional library, imported; else one line naming the extra that installs it
    (dcnmix.backends.MissingExtra)."""
    import importlib
    from .backends import require_extra
    require_extra(module, extra=extra, purpose=purpose)
    return importlib.import_module(module)


class TensorBoard:
    """TensorBoard event files of one run under `logdir` (tensorboardX's SummaryWriter).

        fit(cfg, tc, splits, "runs/a", hooks=[TensorBoard("tb/a")], log_every=50)
        tensorboard --logdir tb
    A resumed run appends to the same folder; its epochs carry their own step numbers."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.writer = None

    def start(self, *, folder: str, config, train_config, progress) -> None:
        writer_class = need("tensorboardX", extra="tensorboard", purpose="--tensorboard").SummaryWriter
        self.writer = writer_class(logdir=self.logdir)
        if not progress.history:
            self.writer.add_text("run", f"folder {folder}\n\n{config}\n\n{train_config}", 0)

    def epoch(self, row: dict) -> None:
        for step, loss in row.get("step_loss", ()):
            self.writer.add_scalar("train/step_loss", loss, step)
        epoch = row["epoch"]
        for tag, key in (("train/loss", "train_loss"), ("val/auc", "val_auc"),
                         ("val/logloss", "val_logloss"), ("lr", "lr"),
                         ("speed/examples_per_s", "examples_per_s")):
            self.writer.add_scalar(tag, row[key], epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
