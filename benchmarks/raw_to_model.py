"""Raw file to trained model, against the machine's floor for the same work.

    python benchmarks/raw_to_model.py --rows 5000000 [--file /tmp/criteo_5m.txt] [--out FILE]

A generated Criteo-format TSV (make_criteo_like.py: label, 13 counts, 26 hashed tokens; made
first when --file is absent, not timed) goes, as a user would run it, through
  1. `dcnmix prepare criteo:FILE --out DIR`                    (vocabulary, ids, splits)
  2. `dcnmix train --dataset prepared:DIR --epochs 1 ...`      (one epoch, then validation
     and test metrics; the Criteo-like model of benchmarks/throughput.py: M=624, r=64, K=4,
     order 3, DNN 512-256-128, batch 4096)
each a fresh process, timed from the shell's side. The floor is what the same work cannot
go below on this machine: `pyarrow.csv.read_csv` of the file (the parse) plus the model's
FLOPs (XLA's cost analysis of one train step and one evaluation batch, times the rows of
each) at the measured float32 matmul rate. The figures scale linearly with the rows; the
report also gives them on paper for the 45,840,617-row Kaggle file.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

KAGGLE_ROWS = 45_840_617
MODEL = ["--emb-num", "16", "--r", "64", "--k", "4", "--order-num", "3",
         "--hidden-nums", "512,256,128", "--batch-size", "4096"]


def timed(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t


def pyarrow_read(path: str) -> float:
    code = ("import time, pyarrow.csv as c\nfrom dcnmix.data.tabular import CRITEO_FIELDS\n"
            "t = time.perf_counter()\nc.read_csv(%r, read_options=c.ReadOptions(column_names="
            "['label', *CRITEO_FIELDS]), parse_options=c.ParseOptions(delimiter='\\t', "
            "quote_char=False), convert_options=c.ConvertOptions(strings_can_be_null=True))\n"
            "print(time.perf_counter() - t)" % path)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def model_flops(prepared: str) -> tuple[float, float, int]:
    """(train FLOPs per example, eval FLOPs per example, parameters) of the run's model."""
    import numpy as np
    from dcnmix.config import ModelConfig, TrainConfig
    from dcnmix.data.prepared import open_prepared
    from dcnmix_jax.trainer import JaxTrainer
    with open(os.path.join(prepared, "feature_map.json")) as fh:
        feat_dim = json.load(fh)["feat_dim"]
    train, _, _ = open_prepared(prepared)
    cfg = ModelConfig(field_num=train.field_num, feat_dim=feat_dim, emb_num=16, r=64, k=4,
                      order_num=3, hidden_nums=(512, 256, 128))
    trainer = JaxTrainer(cfg, TrainConfig(batch_size=4096))
    ids = np.asarray(train.ids[:4096])
    labels = np.asarray(train.labels[:4096])
    flops = []
    for fn, args in ((trainer.fns.step, (trainer.state, ids, labels)),
                     (trainer.fns.predict, (trainer.state, ids))):
        cost = fn.lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        flops.append(float(cost["flops"]) / 4096)
    return flops[0], flops[1], trainer.n_params


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--file", default=None, help="the TSV (default /tmp/criteo_ROWS.txt, made if absent)")
    p.add_argument("--work", default="/tmp/dcnmix-raw-to-model")
    p.add_argument("--out", default=None, help="write the Markdown report here")
    args = p.parse_args(argv)
    path = args.file or f"/tmp/criteo_{args.rows}.txt"
    if not os.path.exists(path):
        subprocess.run([sys.executable, os.path.join(HERE, "make_criteo_like.py"), "--rows",
                        str(args.rows), "--out", path], check=True)
    os.makedirs(args.work, exist_ok=True)
    prepared, run = os.path.join(args.work, "prepared"), os.path.join(args.work, "run")
    load = os.getloadavg()[0]
    dcnmix = [sys.executable, "-m", "dcnmix"]
    seconds = {"prepare": timed([*dcnmix, "prepare", f"criteo:{path}", "--out", prepared]),
               "train 1 epoch + metrics": timed([*dcnmix, "train", "--dataset", f"prepared:{prepared}",
                                                 "--epochs", "1", "--out", run, "--overwrite",
                                                 "--no-progress", *MODEL])}
    with open(os.path.join(run, "summary.json")) as fh:
        summary = json.load(fh)
    read = pyarrow_read(path)
    from throughput import matmul_rate, report, versions
    rate = matmul_rate()
    train_f, eval_f, params = model_flops(prepared)
    rows = summary["rows"]
    compute = (train_f * rows["train"] + eval_f * (rows["valid"] + rows["test"])) / rate
    floor = {"prepare": read, "train 1 epoch + metrics": compute}
    total, floor_total = sum(seconds.values()), sum(floor.values())
    scale = KAGGLE_ROWS / sum(rows.values())
    lines = [f"Command: `python benchmarks/raw_to_model.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), f"load average at the start {load:.2f}; matmul rate {rate / 1e9:.1f} "
             f"GFLOP/s; {sum(rows.values()):,} rows ({os.path.getsize(path) / 2**20:,.0f} MiB); "
             f"model {params:,} parameters, {train_f / 1e6:.2f} MFLOP/example to train, "
             f"{eval_f / 1e6:.2f} to evaluate; test AUC {summary['test_auc']:.4f}", "",
             "| phase | seconds | floor (s) | vs floor | Kaggle 45.8M rows, on paper (s) |",
             "| --- | --- | --- | --- | --- |"]
    for name, s in seconds.items():
        lines.append(f"| {name} | {s:.1f} | {floor[name]:.1f} | {s / floor[name]:.2f}x | {s * scale:,.0f} |")
    lines += [f"| raw file to trained model | {total:.1f} | {floor_total:.1f} | "
              f"{total / floor_total:.2f}x | {total * scale:,.0f} |", "",
              "Floor: the prepare row is pyarrow.csv.read_csv of the file; the train row the "
              "model's FLOPs (train rows x train step, valid + test rows x evaluation) at the "
              "matmul rate. The train row's seconds include the process start, building the "
              "model and compiling (cold or cached, as the machine's cache is)."]
    report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
