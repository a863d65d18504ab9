"""The issue-24 comparison on the generated mixed-type log (benchmarks/mixed_data.py): DCN-Mix
with typed columns (dense rate and price, the tag list pooled) against the same model with the
numbers bucketed by the log rule and against scikit-learn's logistic regression on the same
columns and time-ordered split; test AUC each.

    python benchmarks/mixed_vs_lr.py --rows 120000 --epochs 8 --out benchmarks/results/mixed_vs_lr.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=120_000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import dcnmix
    from mixed_data import OPTIONS, mixed_frame
    import test_typed
    test_typed.ROWS = args.rows
    frame = mixed_frame(args.rows, seed=1)
    test = frame.sort("ts", maintain_order=True)[int(round(0.9 * args.rows)):]
    work = tempfile.mkdtemp()
    config = {"order_num": 2, "emb_num": 8, "hidden_nums": (64, 32)}
    tc = dcnmix.TrainConfig(epochs=args.epochs, batch_size=512, lr=3e-3, patience=2)
    quiet = dict(progress=False, log=lambda *_: None, train_config=tc)
    rows = ["| model | columns | test AUC | best epoch |", "| --- | --- | --- | --- |"]
    typed, _ = dcnmix.train(config, frame, out=f"{work}/typed", **quiet, **OPTIONS)
    rows.append(f"| DCN-Mix | dense rate, price; tags pooled | {typed['test_auc']:.4f} | {typed['best_epoch']} |")
    logged = {**OPTIONS, "numeric": OPTIONS["dense"], "dense": ()}
    bucketed, _ = dcnmix.train(config, frame, out=f"{work}/log", **quiet, **logged)
    rows.append(f"| DCN-Mix | rate, price log-bucketed; tags pooled | {bucketed['test_auc']:.4f} | "
                f"{bucketed['best_epoch']} |")
    rows.append(f"| logistic regression (scikit-learn) | one-hot ids and tags, log1p + standardised "
                f"rate and price | {test_typed._logistic_regression_auc(frame, test):.4f} | - |")
    text = "\n".join(rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"Command: `python benchmarks/mixed_vs_lr.py {' '.join(sys.argv[1:])}`\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
