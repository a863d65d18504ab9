"""Streaming vs device-resident training data: epoch throughput of the JAX trainer when the
training split streams from a memory-mapped prepared folder (device-data budget 0) against
the same split placed on the device once, same batches, batch 4096.

    python benchmarks/streaming.py [--rows 600000] [--epochs 3] [--out benchmarks/results/streaming.md]

Data: ids drawn uniformly per field into a prepared-folder layout ({split}.ids.npy, memory
mapped), for the seed configuration (10 fields, 72 ids) and the Criteo-like one (39
fields, 1M ids; benchmarks/throughput.py's CONFIGS). Each figure is the median over
--epochs timed epochs after one warm-up epoch (compilation).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def memmapped(bc, rows: int, folder: str):
    from dcnmix.data import Dataset
    rng = np.random.default_rng(0)
    per_field = max(1, bc.feat_dim // bc.field_num)
    ids = rng.integers(0, per_field, (rows, bc.field_num)) + np.arange(bc.field_num) * per_field
    np.save(os.path.join(folder, "ids.npy"), ids.astype(np.int32))
    np.save(os.path.join(folder, "labels.npy"), (rng.random(rows) < 0.3).astype(np.float32))
    ids = np.load(os.path.join(folder, "ids.npy"), mmap_mode="r")
    labels = np.load(os.path.join(folder, "labels.npy"), mmap_mode="r")
    return Dataset(ids, labels, tuple(f"f{i}" for i in range(bc.field_num)),
                   (per_field,) * bc.field_num, bc.feat_dim)


def epoch_rate(bc, data, budget, epochs: int, batch: int) -> float:
    from dcnmix.config import TrainConfig
    from dcnmix.data import batch_order
    from dcnmix_jax.trainer import JaxTrainer
    backend = JaxTrainer(bc.model_config(), TrainConfig(batch_size=batch), data_budget=budget)
    times = []
    for epoch in range(epochs + 1):
        order = batch_order(len(data), batch, seed=0, epoch=epoch, drop_last=True)
        t0 = time.perf_counter()
        for _, losses in backend.train_chunks(data, order):
            pass
        np.asarray(losses)
        times.append(time.perf_counter() - t0)
    return len(order) * batch / statistics.median(times[1:])


def main(argv=None) -> int:
    from throughput import CONFIGS, report
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=600_000)
    p.add_argument("--criteo-rows", type=int, default=200_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    lines = [f"Command: `python benchmarks/streaming.py {' '.join(argv or sys.argv[1:])}`", "",
             f"load average at start {os.getloadavg()[0]:.2f}; batch {args.batch}; median of "
             f"{args.epochs} epochs after a warm-up epoch", "",
             "| config | rows | device-resident ex/s | streamed ex/s | streamed / resident |",
             "| --- | --- | --- | --- | --- |"]
    for key, rows in (("seed", args.rows), ("criteo", args.criteo_rows)):
        bc = CONFIGS[key]
        with tempfile.TemporaryDirectory() as folder:
            data = memmapped(bc, rows, folder)
            print(f"{key}: resident", file=sys.stderr, flush=True)
            resident = epoch_rate(bc, data, None, args.epochs, args.batch)
            print(f"{key}: streamed", file=sys.stderr, flush=True)
            streamed = epoch_rate(bc, data, 0, args.epochs, args.batch)
        lines.append(f"| {bc.name} | {rows:,} | {resident:,.0f} | {streamed:,.0f} | "
                     f"{streamed / resident:.2f} |")
    report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
