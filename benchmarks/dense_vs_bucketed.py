"""The paper's Criteo setup against the log-bucketed one, on a generated Criteo-like file with
planted numeric signal: prepare's rate with I1-I13 as 13 dense fields (and as buckets), then
the same DCN trained on each, test AUC and train examples/s.

    python benchmarks/make_criteo_like.py --rows 500000 --numeric-weight 0.6 --out /tmp/cl.txt
    python benchmarks/dense_vs_bucketed.py --file /tmp/cl.txt --epochs 3 --out benchmarks/results/dense_vs_bucketed.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--file", required=True, help="a Criteo-format file (make_criteo_like.py)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--out", default=None, help="write the Markdown table here")
    args = p.parse_args(argv)
    import dcnmix
    from dcnmix.data.prepare import PrepareOptions, prepare
    work = tempfile.mkdtemp()
    rows = ["| I1-I13 as | prepare s | prepare rows/s | x0 width | params | train ex/s | best epoch | test AUC |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, options in (("log buckets (default)", {}), ("dense, log1p (the paper's)", {"dense": ("all",)})):
        folder = os.path.join(work, "dense" if options else "buckets")
        t0 = time.perf_counter()
        fmap = prepare(PrepareOptions(kind="criteo", paths=(args.file,), min_count=10, **options), folder)
        seconds = time.perf_counter() - t0
        n = sum(fmap.info["rows"].values())
        summary, _ = dcnmix.train({"order_num": 3, "emb_num": 16, "hidden_nums": (256, 128)},
                                  f"prepared:{folder}", out=os.path.join(folder, "run"), progress=False,
                                  train_config=dcnmix.TrainConfig(epochs=args.epochs,
                                                                  batch_size=args.batch_size,
                                                                  patience=1))
        cfg = dcnmix.ModelConfig.from_dict(summary["config"])
        rows.append(f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {cfg.input_num} | "
                    f"{summary['params']:,} | {summary['train_examples_per_s']:,.0f} | "
                    f"{summary['best_epoch']} | {summary['test_auc']:.4f} |")
        print(rows[-1], flush=True)
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
