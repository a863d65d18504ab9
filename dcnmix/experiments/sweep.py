"""`dcnmix sweep`: train every cell of a grid of options, each cell a normal run folder, and
tabulate them (mean +- std over seeds):

    dcnmix sweep --grid seed --frameworks jax,torch --seeds 2 --out sweeps/seed-grid
    dcnmix sweep --grid order_num=1,2,3,4 method=parallel,stacked --out sweeps/orders
    dcnmix sweep --compare --dataset frappe --out sweeps/compare

A grid key is a training flag's name (order_num or order-num; model, variant and training
options), its values comma-separated (a list-valued option such as hidden_nums takes
'/'-separated lists: hidden_nums=128,64,32/400,400,400). `--grid seed` is the seed article's
grid (cross mix/full x parallel/stacked x orders 1-4); `--compare` its comparison table (FM,
FFM, PNN, DeepFM, NFM and four DCNs, each model in its seed preset). The other flags are
`dcnmix train`'s and apply to every cell. The data is read once.

    OUT/runs/FRAMEWORK-CELL-sSEED/   a run folder per cell and seed (`dcnmix runs OUT`)
    OUT/runs.csv                     one row per run
    OUT/table.md                     the table, with the command that made it

Resumable: a finished cell is skipped (after checking it was trained with these options),
an interrupted one resumes from its checkpoint.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

from ..flags import csv_list, positive_int
from .options import cell_args, logging_hooks, parse_grid, run_configs, train_parser

# the seed article's grid: DCN-Mix and DCN-V2, parallel and stacked, 1-4 cross layers
SEED_GRID = ("cross=mix,full", "method=parallel,stacked", "order_num=1,2,3,4")
REFERENCE = "mix-parallel-1"        # the seed's chosen model, the comparison's paired base
# the seed article's comparison table: cell -> (label, its validation AUC, its parameters)
SEED_TABLE = {
    "fm": ("FM", 0.6274, 361), "ffm": ("FFM", 0.6317, 2953), "pnn": ("PNN*", 0.6342, 29953),
    "deepfm": ("DeepFM", 0.6322, 12746), "nfm": ("NFM", 0.6329, 10186),
    "full-parallel-3": ("DCN-parallel-3", 0.6348, 110017),
    "full-stacked-3": ("DCN-stacked-3", 0.6344, 109857),
    "mix-parallel-1": ("DCN-Mix-parallel-1", 0.6345, 54501),
    "mix-stacked-3": ("DCN-Mix-stacked-3", 0.6333, 97869),
}
def cell_options(cell: str) -> dict:
    """The options of a comparison cell: 'fm' ... 'nfm', or CROSS-METHOD-ORDER for a DCN."""
    if "-" not in cell:
        return {"model": cell}
    cross, method, order = cell.split("-")
    return {"model": "dcn", "cross": cross, "method": method, "order_num": int(order)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..cli import add_train_arguments
    add_train_arguments(p)
    p.set_defaults(out=None)
    g = p.add_argument_group("sweep (docs/experiments.md)")
    g.add_argument("--grid", nargs="+", default=None, metavar="KEY=V,V",
                   help="the options to cross, e.g. order_num=1,2,3,4 method=parallel,stacked; "
                        "'seed': the seed article's grid (cross x method x order 1-4)")
    g.add_argument("--compare", action="store_true",
                   help="the seed article's comparison table (FM, FFM, PNN, DeepFM, NFM, DCN-V2 "
                        "parallel-3 / stacked-3, DCN-Mix parallel-1 / stacked-3) instead of a grid")
    g.add_argument("--seeds", type=positive_int, default=1,
                   help="runs per cell, with seeds --seed, --seed + 1, ...")
    g.add_argument("--frameworks", type=csv_list, default=None, metavar="NAME,NAME",
                   help="train every cell in each (default: --framework)")


def cells(args, parser) -> list[tuple[str, dict]]:
    if args.compare == bool(args.grid):
        raise ValueError("dcnmix sweep takes --grid KEY=V,V ... or --compare (one of them)")
    if args.compare:
        return [(cell, cell_options(cell)) for cell in SEED_TABLE]
    return parse_grid(SEED_GRID if args.grid == ["seed"] else args.grid, parser)


def run(args) -> int:
    from ..cli import check_logging, data_spec
    from ..loop import set_threads, use_compilation_cache
    if args.out is None:
        raise ValueError("dcnmix sweep needs --out DIR (the folder of the sweep's runs)")
    check_logging(args)
    grid = cells(args, train_parser())
    frameworks = args.frameworks or (args.framework,)
    plan = [(fw, name, options, seed) for seed in range(args.seed, args.seed + args.seeds)
            for fw in frameworks for name, options in grid]
    print(f"{len(plan)} runs: {len(grid)} cells x {len(frameworks)} frameworks x "
          f"{args.seeds} seeds -> {args.out}", flush=True)
    spec, splits = None, None
    rows = []
    for fw, name, options, seed in plan:
        folder = os.path.join(args.out, "runs", f"{fw}-{name}-s{seed}")
        ns = cell_args(args, {**options, "seed": seed, "framework": fw, "out": folder})
        if splits is None:
            spec = data_spec(args)
            splits = spec.load(log=lambda *_: None)
            for framework in frameworks:
                if args.threads is not None:
                    set_threads(framework, args.threads)
                use_compilation_cache(framework, args.compilation_cache, log=_quiet)
        summary, skipped = train_cell(ns, splits, spec)
        rows.append(run_row(fw, name, options, seed, summary))
        print(f"{fw} {name} seed {seed}: val AUC {summary['val_auc']:.4f} test AUC "
              f"{summary['test_auc']:.4f}" + (" (done before)" if skipped else
                                              f" ({summary['train_seconds']:.0f} s)"), flush=True)
    write_results(args, rows, grid)
    print(f"-> {os.path.join(args.out, 'table.md')}, {os.path.join(args.out, 'runs.csv')}")
    return 0


def _quiet(*_) -> None:
    pass


def train_cell(ns, splits, spec) -> tuple[dict, bool]:
    """(summary, finished before) of one cell's run folder: trained, resumed, or read back
    once checked to hold this cell's options."""
    from ..loop import fit
    from ..run import RunFolder, as_recorded
    cfg, tc = run_configs(ns, splits)
    folder = RunFolder(ns.out)
    if os.path.exists(folder.path("summary.json")):
        summary = folder.read_summary()
        if summary.get("config") != as_recorded(cfg.to_dict()) \
                or summary.get("framework") != ns.framework \
                or summary.get("train", {}).get("seed") != tc.seed:
            raise ValueError(f"{ns.out}: trained with other options than this sweep's cell "
                             "(another --out, or remove the folder)")
        return summary, True
    summary = fit(cfg, tc, splits, ns.out, framework=ns.framework, resume=True, progress=False,
                  log=_quiet, data=spec, log_every=ns.log_every, hooks=logging_hooks(ns))
    return summary, False


def run_row(framework: str, cell: str, options: dict, seed: int, summary: dict) -> dict:
    return {"framework": framework, "cell": cell, "seed": seed, "params": summary["params"],
            "best_epoch": summary["best_epoch"], "val_auc": summary["val_auc"],
            "test_auc": summary["test_auc"], "test_logloss": summary["test_logloss"],
            "train_seconds": summary["train_seconds"],
            **{k: _text(v) for k, v in options.items()}}


def _text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def write_results(args, rows: list[dict], grid) -> None:
    """OUT/runs.csv (a row per run) and OUT/table.md (a row per framework and cell)."""
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = table(rows, grid, compare=args.compare, command=_command())
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write(text + "\n")
    print(text)


def _command() -> str:
    return "dcnmix " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["sweep"] else "dcnmix sweep"


def table(rows: list[dict], grid, *, compare: bool, command: str) -> str:
    """Markdown: per framework and cell (in grid order), mean +- std over seeds; with compare,
    the seed article's figures and each run's val AUC paired with DCN-Mix parallel-1's."""
    import numpy as np
    keys = [] if compare else list(grid[0][1])
    order = {name: i for i, (name, _) in enumerate(grid)}
    reference = {(r["framework"], r["seed"]): r["val_auc"] for r in rows if r["cell"] == REFERENCE}
    head = ["framework", *(keys or ["model"]), "params", "runs", "val AUC", "test AUC",
            "best epoch", "train s"]
    if compare:
        head += [f"val AUC - {SEED_TABLE[REFERENCE][0]}'s, same seed", "seed's val AUC",
                 "seed's params"]
    out = [f"Command: `{command}`", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["framework"], r["cell"]), []).append(r)
    for (fw, cell), rs in sorted(groups.items(), key=lambda g: (g[0][0], order[g[0][1]])):
        val, test = (np.array([r[k] for r in rs]) for k in ("val_auc", "test_auc"))
        cells = [fw, *([rs[0][k] for k in keys] or [SEED_TABLE[cell][0] if compare else cell]),
                 f"{rs[0]['params']:,}", str(len(rs)), f"{val.mean():.4f} ± {val.std():.4f}",
                 f"{test.mean():.4f} ± {test.std():.4f}",
                 f"{np.mean([r['best_epoch'] for r in rs]):.1f}",
                 f"{np.mean([r['train_seconds'] for r in rs]):.0f}"]
        if compare:
            paired = [r["val_auc"] - reference[(fw, r["seed"])] for r in rs
                      if (fw, r["seed"]) in reference]
            label, auc, params = SEED_TABLE[cell]
            cells += [f"{np.mean(paired):+.4f} ± {np.std(paired):.4f}" if paired else "",
                      f"{auc:.4f}", f"{params:,}"]
        out.append("| " + " | ".join(cells) + " |")
    out.append(f"\n{len(rows)} runs; mean ± std over the seeds of each row.")
    return "\n".join(out)
