"""`dcnmix plot RUN... --out FILE.png`: learning curves of runs, one labelled line per run in
each of three panels: training loss, validation AUC and validation logloss per epoch (with
--steps, the training-loss panel draws the per-step losses of runs trained with
--log-every). RUN may be a folder holding runs (a sweep's). matplotlib, headless.

    dcnmix plot runs/a runs/b --out curves.png
    dcnmix plot sweeps/seed-grid --out grid.png
"""
from __future__ import annotations

import argparse
import os

from . import records

PANELS = (("train_loss", "training loss"), ("val_auc", "validation AUC"),
          ("val_logloss", "validation logloss"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run folders, or folders holding them")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the image (.png; or .svg, .pdf: any format matplotlib writes)")
    p.add_argument("--steps", action="store_true",
                   help="training loss per logged step (runs trained with --log-every N)")
    p.add_argument("--title", default=None, help="the figure's title")


def run(args) -> int:
    fmt = _format(args.out)
    rows = records.with_options([records.record(f) for f in records.find(args.runs)])
    drawn = [r for r in rows if r.get("history")]
    if not drawn:
        raise ValueError(f"{', '.join(args.runs)}: no run has a finished epoch to draw "
                         "(metrics.jsonl is empty or missing)")
    figure = draw(drawn, steps=args.steps, title=args.title)
    from ..files import writing
    with writing(args.out) as fh:
        figure.savefig(fh, format=fmt, dpi=120)
    skipped = len(rows) - len(drawn)
    print(f"{len(drawn)} runs -> {args.out}" + (f" ({skipped} without an epoch left out)"
                                                if skipped else ""))
    return 0


def _format(path: str) -> str:
    from matplotlib.figure import Figure
    supported = Figure().canvas.get_supported_filetypes()
    fmt = os.path.splitext(path)[1].lstrip(".").lower()
    if fmt not in supported:
        raise ValueError(f"--out {path}: name an image file ({', '.join(sorted(supported))})")
    return fmt


def label(row: dict, common: str) -> str:
    """A run's legend entry: its folder (less the runs' common prefix), model and options."""
    name = os.path.relpath(row["run"], common) if common else row["run"]
    parts = [name if name != "." else os.path.basename(row["run"]), row.get("model") or "",
             row.get("framework") or "", row.get("options") or ""]
    return " ".join(p for p in parts if p)


def step_epochs(steps: list[dict]) -> list[float]:
    """Each step line's place in epochs (global step / steps per epoch; an epoch's last
    line is at its end)."""
    first = steps[0]["epoch"]
    per_epoch = max(s["step"] for s in steps if s["epoch"] == first) / first
    return [s["step"] / per_epoch for s in steps]


def draw(rows: list[dict], *, steps: bool = False, title: str | None = None):
    """A matplotlib Figure (no pyplot, so no display is needed) of the rows' histories."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    figure = Figure(figsize=(15, 4.8), layout="constrained")
    axes = figure.subplots(1, len(PANELS))
    common = os.path.commonpath([r["run"] for r in rows]) if len(rows) > 1 else ""
    for row in rows:
        epochs = [e["epoch"] for e in row["history"]]
        name = label(row, common)
        for ax, (key, _) in zip(axes, PANELS):
            if key == "train_loss" and steps and row.get("steps"):
                ax.plot(step_epochs(row["steps"]), [s["train_loss"] for s in row["steps"]],
                        label=name, linewidth=1)
            else:
                ax.plot(epochs, [e[key] for e in row["history"]], marker="o", markersize=3,
                        label=name)
    for ax, (_, text) in zip(axes, PANELS):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(text)
        ax.grid(alpha=0.3)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                  ncols=min(len(rows), 3), fontsize="small")
    if title:
        figure.suptitle(title)
    return figure
