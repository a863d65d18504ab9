"""Quality sweeps, per framework and several seeds -> CSV (one row per run) and a Markdown
table (mean +- std over seeds):

  grid (default)   the seed article's grid: order 1-4 x parallel/stacked, DCN-Mix and DCN-V2;
  --compare        the seed article's comparison table: FM, FFM, PNN, DeepFM, NFM, DCN-V2
                   parallel-3 / stacked-3, DCN-Mix parallel-1 / stacked-3 (each model in its
                   seed preset unless --emb-num / --hidden-nums / --dropout say otherwise).

    python benchmarks/sweep.py --dataset synthetic --frameworks jax,torch --seeds 3 \\
        --out benchmarks/results/sweep_synthetic [training flags, e.g. --synthetic-rows]
    python benchmarks/sweep.py --compare --dataset synthetic --synthetic-rows 20000 \\
        --seeds 3 --out benchmarks/results/compare_synthetic

Runs are resumable: a run whose summary.json exists is not trained again.
"""
from __future__ import annotations

import argparse
import ast
import csv
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dcnmix.config import OPTIONS, ModelConfig, TrainConfig, model_defaults  # noqa: E402
from dcnmix.data import DataSpec  # noqa: E402
from dcnmix.loop import fit, set_threads  # noqa: E402

from dcnmix.experiments import sweep as _command  # noqa: E402

# the seed article's grid, its comparison table and the paired base: declared once, by
# `dcnmix sweep` (the user's command; this script keeps the benchmark's extras: --tune per
# cell, --collect-only)
REFERENCE, SEED_TABLE = _command.REFERENCE, _command.SEED_TABLE
GRID = list(itertools.product(("mix", "full"), ("parallel", "stacked"), (1, 2, 3, 4)))


def cell_options(cell: str, args) -> dict:
    """ModelConfig options of a cell: 'fm' ... 'nfm', or CROSS-METHOD-ORDER for a DCN; the
    shape flags given override the model's own defaults (model_defaults)."""
    options = _command.cell_options(cell)
    options = {**model_defaults(options["model"]), **options}
    shape = {"emb_num": args.emb_num, "dropout": args.dropout, "hidden_nums":
             tuple(int(h) for h in args.hidden_nums.split(",")) if args.hidden_nums else None}
    for name, value in shape.items():
        if value is not None and name in OPTIONS[options["model"]]:
            options[name] = value
    return options


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--frameworks", default="jax,torch")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--compare", action="store_true",
                   help="the seed's comparison table instead of the DCN grid")
    p.add_argument("--grid", default=None,
                   help="comma-separated cells: CROSS-METHOD-ORDER (e.g. mix-parallel-3) or a "
                        "baseline (fm, ffm, pnn, deepfm, nfm); default: all 16 DCN cells, or "
                        "with --compare the seed table's 9 rows")
    p.add_argument("--emb-weight-decay", type=float, default=None)
    p.add_argument("--embedding-optimizer", default="dense")
    p.add_argument("--lr-decay", type=float, default=None)
    p.add_argument("--synthetic-rows", type=int, default=100_000)
    p.add_argument("--emb-num", type=int, default=None, help="default: each model's own")
    p.add_argument("--hidden-nums", default=None, help="default: each model's own")
    p.add_argument("--dropout", type=float, default=None, help="default: each model's own")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads of each framework (dcnmix.loop.set_threads)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--tune", action="append", default=[], metavar="CELLS:KEY=VALUE,...",
                   help="training options for some cells only, e.g. fm,ffm:emb_weight_decay=0,"
                        "epochs=100 (repeatable; keys are TrainConfig fields)")
    p.add_argument("--collect-only", action="store_true",
                   help="train nothing: tabulate the runs already finished under --out")
    return p.parse_args(argv)


def cells(args) -> list[str]:
    if args.grid:
        return args.grid.split(",")
    return list(SEED_TABLE) if args.compare else [f"{c}-{m}-{o}" for c, m, o in GRID]


def tuned(args, cell: str) -> dict:
    """The --tune options that apply to `cell`: {TrainConfig field: value}."""
    out = {}
    for rule in args.tune:
        names, _, pairs = rule.partition(":")
        if cell in names.split(","):
            for pair in pairs.split(","):
                key, _, value = pair.partition("=")
                out[key] = ast.literal_eval(value)
    return out


def run_one(args, cell: str, framework: str, seed: int, splits, spec) -> dict:
    cfg = ModelConfig.create(field_num=splits[0].field_num, feat_dim=splits[0].feat_dim,
                             **cell_options(cell, args))
    options = dict(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                   lr=args.lr, weight_decay=args.weight_decay,
                   emb_weight_decay=args.emb_weight_decay,
                   embedding_optimizer=args.embedding_optimizer, lr_decay=args.lr_decay)
    tc = TrainConfig(**{**options, **tuned(args, cell)}, seed=seed)
    run = os.path.join(args.out, "runs", f"{framework}-{cell}-s{seed}")
    return fit(cfg, tc, splits, run, framework=framework, resume=True, progress=False,
               log=lambda *_: None, data=spec)


def main(argv=None) -> int:
    args = parse(argv)
    rows, missing = [], []
    os.makedirs(args.out, exist_ok=True)
    if args.threads:
        for framework in args.frameworks.split(","):
            set_threads(framework, args.threads)
    for seed in range(args.seeds):
        splits = spec = None
        for framework in args.frameworks.split(","):
            for cell in cells(args):
                path = os.path.join(args.out, "runs", f"{framework}-{cell}-s{seed}", "summary.json")
                if os.path.exists(path):
                    with open(path) as fh:
                        s = json.load(fh)
                elif args.collect_only:
                    missing.append(f"{framework}-{cell}-s{seed}")
                    continue
                else:
                    if splits is None:
                        spec = DataSpec(spec=args.dataset, synthetic_rows=args.synthetic_rows,
                                        split_seed=seed)
                        splits = spec.load()
                    s = run_one(args, cell, framework, seed, splits, spec)
                print(f"{framework} {cell} seed {seed}: val {s['val_auc']:.4f} "
                      f"test {s['test_auc']:.4f} ({s['train_seconds']:.0f}s)", flush=True)
                rows.append({"framework": framework, "cell": cell, "seed": seed,
                             "params": s["params"], "best_epoch": s["best_epoch"],
                             "val_auc": s["val_auc"], "test_auc": s["test_auc"],
                             "test_logloss": s["test_logloss"],
                             "train_seconds": s["train_seconds"]})
    if not rows:
        print(f"no finished runs under {args.out}", file=sys.stderr)
        return 1
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write(markdown(rows, args) + "\n")
        if missing:
            fh.write(f"\nNot run (yet): {', '.join(missing)}.\n")
    return 0


def _label(cell: str) -> tuple[str, str, str]:
    """(model, structure, cross layers) of a cell."""
    if "-" not in cell:       # a model of the registry outside the seed's table: its name
        return (SEED_TABLE[cell][0] if cell in SEED_TABLE else cell), "", ""
    cross, method, order = cell.split("-")
    return ("DCN-Mix" if cross == "mix" else "DCN-V2"), method, order


def markdown(rows, args) -> str:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["framework"], r["cell"]), []).append(r)
    order = {c: i for i, c in enumerate(cells(args))}
    command = " ".join(a for a in sys.argv[1:] if a != "--collect-only")
    seed_cols = (f" val AUC - {SEED_TABLE[REFERENCE][0]}'s, same seed | seed's val AUC | "
                 "seed's params |") if args.compare else ""
    reference = {(r["framework"], r["seed"]): float(r["val_auc"]) for r in rows
                 if r["cell"] == REFERENCE}
    out = [f"Command: `python benchmarks/sweep.py {command}`", "",
           "| framework | model | structure | cross layers | params | runs | val AUC | test AUC "
           "| best epoch | train s |" + seed_cols,
           "| --- " * (10 + 3 * args.compare) + "|"]
    for (fw, cell), rs in sorted(groups.items(), key=lambda g: (g[0][0], order.get(g[0][1], 99), g[0][1])):
        v = np.array([r["val_auc"] for r in rs])
        t = np.array([r["test_auc"] for r in rs])
        model, method, layers = _label(cell)
        line = (f"| {fw} | {model} | {method} | {layers} | {int(rs[0]['params']):,} | {len(rs)} | "
                f"{v.mean():.4f} ± {v.std():.4f} | {t.mean():.4f} ± {t.std():.4f} | "
                f"{np.mean([float(r['best_epoch']) for r in rs]):.1f} | "
                f"{np.mean([float(r['train_seconds']) for r in rs]):.0f} |")
        if args.compare:
            paired = [float(r["val_auc"]) - reference[(fw, r["seed"])] for r in rs
                      if (fw, r["seed"]) in reference]
            line += f" {np.mean(paired):+.4f} ± {np.std(paired):.4f} |" if paired else " |"
            seed = SEED_TABLE.get(cell)
            line += f" {seed[1]:.4f} | {seed[2]:,} |" if seed else " | |"
        out.append(line)
    out.append(f"\n{len(rows)} runs; mean ± std over the runs (seeds) of each row"
               + (f"; the paired column compares each run with {SEED_TABLE[REFERENCE][0]} of the "
                  "same framework and seed (same split and batches), which removes the split's "
                  "variation." if args.compare else "."))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
