"""The seed article's grid: order 1-4 x parallel/stacked, DCN-Mix and DCN-V2, per framework,
several seeds -> CSV (one row per run) and a Markdown table (mean +- std).

    python benchmarks/sweep.py --dataset synthetic --frameworks jax,torch --seeds 3 \\
        --out benchmarks/results/sweep_synthetic [training flags as dcnmix-train, e.g. --synthetic-rows]

Runs are resumable: a run whose summary.json exists is not trained again.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dcnmix.config import ModelConfig  # noqa: E402
from dcnmix.data import DataSpec  # noqa: E402
from dcnmix.config import TrainConfig
from dcnmix.loop import fit  # noqa: E402

GRID = list(itertools.product(("mix", "full"), ("parallel", "stacked"), (1, 2, 3, 4)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--frameworks", default="jax,torch")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", required=True)
    p.add_argument("--grid", default=None,
                   help="comma-separated CROSS-METHOD-ORDER cells, e.g. mix-parallel-3 (default: all 16)")
    p.add_argument("--emb-weight-decay", type=float, default=None)
    p.add_argument("--embedding-optimizer", default="dense")
    p.add_argument("--lr-decay", type=float, default=None)
    p.add_argument("--synthetic-rows", type=int, default=100_000)
    p.add_argument("--emb-num", type=int, default=16)
    p.add_argument("--hidden-nums", default="128,64,32")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--collect-only", action="store_true",
                   help="train nothing: tabulate the runs already finished under --out")
    args = p.parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden_nums.split(","))
    grid = GRID if not args.grid else [(c, m, int(o)) for c, m, o in
                                       (cell.split("-") for cell in args.grid.split(","))]
    rows = []
    os.makedirs(args.out, exist_ok=True)
    missing = []
    for seed in range(args.seeds):
        splits = None
        for framework in args.frameworks.split(","):
            for cross, method, order in grid:
                run = os.path.join(args.out, "runs", f"{framework}-{cross}-{method}-{order}-s{seed}")
                path = os.path.join(run, "summary.json")
                if args.collect_only and not os.path.exists(path):
                    missing.append(os.path.basename(run))
                    continue
                if os.path.exists(path):
                    with open(path) as fh:
                        s = json.load(fh)
                else:
                    if splits is None:
                        spec = DataSpec(spec=args.dataset, synthetic_rows=args.synthetic_rows,
                                        split_seed=seed)
                        splits = spec.load()
                    cfg = ModelConfig(field_num=splits[0].field_num, feat_dim=splits[0].feat_dim,
                                      emb_num=args.emb_num, order_num=order, dropout=args.dropout,
                                      method=method, hidden_nums=hidden, cross=cross)
                    tc = TrainConfig(epochs=args.epochs, patience=args.patience,
                                     batch_size=args.batch_size, lr=args.lr,
                                     weight_decay=args.weight_decay,
                                     emb_weight_decay=args.emb_weight_decay,
                                     embedding_optimizer=args.embedding_optimizer,
                                     lr_decay=args.lr_decay, seed=seed)
                    s = fit(cfg, tc, splits, run, framework=framework, resume=True,
                            progress=False, log=lambda *_: None, data=spec)
                print(f"{framework} {cross}-{method}-{order} seed {seed}: val {s['val_auc']:.4f} "
                      f"test {s['test_auc']:.4f} ({s['train_seconds']:.0f}s)", flush=True)
                rows.append({"framework": framework, "cross": cross, "method": method,
                             "order": order, "seed": seed, "params": s["params"],
                             "best_epoch": s["best_epoch"], "val_auc": s["val_auc"],
                             "test_auc": s["test_auc"], "test_logloss": s["test_logloss"],
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


def markdown(rows, args) -> str:
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["framework"], r["cross"], r["method"], r["order"]), []).append(r)
    command = " ".join(a for a in sys.argv[1:] if a != "--collect-only")
    out = [f"Command: `python benchmarks/sweep.py {command}`", "",
           "| framework | model | structure | cross layers | params | runs | val AUC | test AUC | best epoch | train s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (fw, cross, method, order), rs in sorted(groups.items()):
        v = np.array([r["val_auc"] for r in rs])
        t = np.array([r["test_auc"] for r in rs])
        model = "DCN-Mix" if cross == "mix" else "DCN-V2"
        out.append(f"| {fw} | {model} | {method} | {order} | {rs[0]['params']:,} | {len(rs)} | "
                   f"{v.mean():.4f} ± {v.std():.4f} | {t.mean():.4f} ± {t.std():.4f} | "
                   f"{np.mean([r['best_epoch'] for r in rs]):.1f} | "
                   f"{np.mean([r['train_seconds'] for r in rs]):.0f} |")
    out.append(f"\n{len(rows)} runs; mean ± std over the runs (seeds) of each row.")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
