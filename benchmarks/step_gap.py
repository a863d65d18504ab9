"""Why one jitted step per batch is slower than the same step inside lax.scan: the paths a
user can write, timed against each other in one process (seed configuration).

    python benchmarks/step_gap.py [--batches 1024,4096] [--repeats 7] [--out FILE]

Paths (each trains the same model from the same state on the same batches):
  scan-32          the trainer: 32 steps per dispatch, batches gathered on the device
  scan-1           the same scan with one step per dispatch
  step, host       dcnmix_jax.train_step(state, numpy ids, numpy labels): a batch per call
  step, device     train_step on batches already on the device (jax.device_put beforehand)
  step, no donate  jax.jit(dcnmix_jax.step) without donating the state
  step, sync       train_step with the loss read back after every step (float(loss))
Timing windows alternate between the paths; each path's median over --repeats is shown.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

S = 32


def paths(batch: int, allocator: str):
    import jax
    from dcnmix.config import TrainConfig
    if allocator == "plain":        # glibc as it comes: the state before keep_freed_memory
        os.environ["DCNMIX_KEEP_FREED_MEMORY"] = "0"     # read by `import dcnmix_jax`
    from dcnmix_jax import steps
    from dcnmix_jax.trainer import JaxTrainer
    from throughput import CONFIGS, batches_for
    bc = CONFIGS["seed"]
    backend = JaxTrainer(bc.model_config(), TrainConfig())
    ids, labels = batches_for(bc, batch, S)
    flat_ids, flat_labels = jax.device_put(ids.reshape(-1, bc.field_num)), jax.device_put(labels.reshape(-1))
    index = jax.device_put(np.arange(S * batch, dtype=np.int32).reshape(S, batch))
    dev = [(jax.device_put(i), jax.device_put(l)) for i, l in zip(ids, labels)]
    no_donate = jax.jit(steps.step)
    box = {"state": backend.state}

    def scan(k):
        def run():
            for s in range(0, S, k):
                box["state"], out = steps.train_steps(box["state"], flat_ids, flat_labels, index[s:s + k])
            return out
        return run

    def per_step(fn, data, sync=False):
        def run():
            for i, l in data:
                box["state"], out = fn(box["state"], i, l)
                if sync:
                    float(out)
            return out
        return run

    host = list(zip(ids, labels))
    return box, {"scan-32": scan(S), "scan-1": scan(1),
                 "step, host": per_step(steps.train_step, host),
                 "step, device": per_step(steps.train_step, dev),
                 "step, no donate": per_step(no_donate, dev),
                 "step, sync": per_step(steps.train_step, dev, sync=True)}


def measure(batch: int, repeats: int, allocator: str) -> dict[str, float]:
    _, runs = paths(batch, allocator)
    for run in runs.values():           # compile and warm up
        run().block_until_ready()
        run().block_until_ready()
    samples = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t = time.perf_counter()
            run().block_until_ready()
            samples[name].append((time.perf_counter() - t) / S)
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", default="1024,4096")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--allocator", choices=("kept", "plain"), default="kept",
                   help="kept: dcnmix_jax.keep_freed_memory() (what `import dcnmix_jax` does); plain: "
                        "glibc's defaults (run it in its own process: the setting is global)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    from throughput import report, versions
    lines = [f"Command: `python benchmarks/step_gap.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), ""]
    for batch in map(int, args.batches.split(",")):
        times = measure(batch, args.repeats, args.allocator)
        base = times["scan-32"]
        lines += [f"### seed config, batch {batch}, allocator {args.allocator}", "",
                  "| path | ms / step | examples/s | vs scan-32 |", "| --- | --- | --- | --- |"]
        lines += [f"| {name} | {t * 1e3:.2f} | {batch / t:,.0f} | {t / base:.2f}x |"
                  for name, t in times.items()]
        lines.append("")
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
