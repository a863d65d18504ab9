"""Training throughput from a sharded prepared folder (streamed shard by shard through the
shuffle buffer, dcnmix.data.streaming) against the same rows in a one-file folder (memory
maps, today's path), JAX trainer, one process.

    python benchmarks/make_criteo_like.py --rows 1000000 --out /tmp/criteo_1m.txt
    python benchmarks/shard_training.py /tmp/criteo_1m.txt --shards 8 --epochs 3 \
        --out benchmarks/results/shard_training.md

Both folders come from the same file (`dcnmix prepare`, polars engine; a Spark-written
folder holds the same shards). Each figure: the median of the epochs after the first
(compilation), training examples per second as the run's metrics.jsonl records them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def epoch_rates(folder: str, out: str, epochs: int, buffer: int) -> list[float]:
    from dcnmix import TrainConfig, train
    tc = TrainConfig(epochs=epochs, batch_size=4096, patience=epochs, shuffle_buffer=buffer)
    train({"order_num": 2}, f"prepared:{folder}", out=out, train_config=tc, progress=False,
          log=lambda *_: None, overwrite=True)
    with open(os.path.join(out, "metrics.jsonl")) as fh:
        return [json.loads(line)["examples_per_s"] for line in fh][1:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--buffer", type=int, default=200_000, help="the sharded run's shuffle buffer")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    from dcnmix.data.prepare import PrepareOptions, prepare
    work = tempfile.mkdtemp(prefix="shard_training-")
    opt = PrepareOptions(kind="criteo", paths=(args.path,))
    prepare(opt, os.path.join(work, "one"))
    prepare(opt, os.path.join(work, "sharded"), shards=args.shards)
    rows = {}
    for name, buffer in (("one-file folder (memory maps)", 0),
                         (f"{args.shards} shards, buffer {args.buffer:,} rows", args.buffer),
                         (f"{args.shards} shards, buffer all rows", 0)):
        folder = "one" if name.startswith("one") else "sharded"
        rates = epoch_rates(os.path.join(work, folder), os.path.join(work, f"run-{len(rows)}"),
                            args.epochs, buffer)
        rows[name] = statistics.median(rates)
        print(name, [round(r) for r in rates], flush=True)
    base = next(iter(rows.values()))
    lines = [f"# Training from shards vs a one-file folder ({args.path})", "",
             f"Command: `python benchmarks/shard_training.py {args.path} --shards {args.shards} "
             f"--epochs {args.epochs} --buffer {args.buffer}`; {os.cpu_count()} cores, load "
             f"{os.getloadavg()[0]:.2f} after; DCN-Mix order 2, batch 4096, JAX; median of the "
             f"epochs after the first", "",
             "| training data | examples/s | vs one-file |", "|---|---|---|"]
    lines += [f"| {name} | {rate:,.0f} | {rate / base:.2f}x |" for name, rate in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
