"""`dcnmix runs PATH...`: one row per run folder at or under the paths (a sweep's or a
search's folder, a folder of runs, single runs), sorted, as a table, CSV, JSON or markdown:

    dcnmix runs sweeps/seed-grid --sort test_auc
    dcnmix runs runs/ --format csv > runs.csv

Columns: run (its folder), model (DCN-Mix-parallel-1, DCN-V2-stacked-3, fm, ...), options
(those that differ across the listed runs), framework, status (finished, interrupted,
diverged, running, unreadable), epochs run, best epoch, validation and test AUC and logloss
(validation: the best epoch's; test: of the best weights, once finished), parameters,
training examples a second and training seconds.
"""
from __future__ import annotations

import argparse
import csv
import io
import json

from . import records

FORMATS = ("table", "csv", "json", "md")
# how the table and markdown show a value
DIGITS = {"val_auc": 5, "val_logloss": 5, "test_auc": 5, "test_logloss": 5}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="run folders, or folders holding them (searched all the way down)")
    p.add_argument("--sort", default=None, metavar="COLUMN",
                   help="order by a column, best first for a metric (test_auc, val_logloss, "
                        "examples_per_s, ...); default: by folder")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="an aligned table, or CSV / JSON (every column, numbers in full) / "
                        "markdown")


def run(args) -> int:
    rows = records.with_options([records.record(f) for f in records.find(args.paths)])
    if args.sort:
        rows = records.sort_rows(rows, args.sort)
    print(render(rows, args.format), end="")
    return 0


def render(rows: list[dict], fmt: str) -> str:
    """The rows as text in format `fmt` (FORMATS); an unreadable run's error follows it."""
    if fmt == "json":
        return json.dumps([_plain(r) for r in rows], indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*records.COLUMNS, "error"],
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(_plain(r) for r in rows)
        return out.getvalue()
    cells = [[_cell(r, c) for c in records.COLUMNS] for r in rows]
    notes = [f"{r['run']}: {r['error']}" for r in rows if r.get("error")]
    text = _markdown(cells) if fmt == "md" else _aligned(cells)
    return text + "".join(f"\n{n}" for n in notes) + "\n"


def _plain(row: dict) -> dict:
    return {k: row.get(k) for k in (*records.COLUMNS, "error")}


def _cell(row: dict, column: str) -> str:
    value = row.get(column)
    if value is None:
        return "-"
    if column in DIGITS:
        return f"{value:.{DIGITS[column]}f}"
    if column in ("params", "examples_per_s", "train_seconds"):
        return f"{value:,.0f}"
    return str(value)


def _aligned(cells: list[list[str]]) -> str:
    """A plain-text table, each column as wide as its widest cell (hand-written: a dozen lines
    where a table library would be one more dependency)."""
    head = [c.replace("_", " ") for c in records.COLUMNS]
    widths = [max(len(x) for x in column) for column in zip(head, *cells)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip()
             for line in [head, *cells]]
    return "\n".join(lines)


def _markdown(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(records.COLUMNS) + " |", "|" + " --- |" * len(records.COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(line) + " |" for line in cells])
