"""An NNX training loop against linen's per-step loop, on one machine, one run.

    python benchmarks/nnx_loop.py --out benchmarks/results/nnx_loop.md [--batches 1024,4096] [--repeats 3]

The seed configuration (10 fields, 72 ids, M=160, r=16, K=4, order 2, DNN 128-64-32, dropout
0.1), Adam (dcnmix_jax.torch_adam, lr 1e-3), numpy batches from the host; each loop: warm-up
(compilation), then the median of timed windows; the loops alternate over `repeats` rounds
and each row is the median over rounds. Loops:
  linen        dcnmix_jax.train_step (jax.jit, state donated): what the trainer runs
  nnx.jit      dcnmix_jax.nnx.train_step(model, optimizer, ids, labels): nnx.Optimizer, nnx.jit
  cached       nnx.cached_partial(train_step, model, optimizer)
  fast         dcnmix_jax.nnx.fast_step: the graph split once, a jax.jit'ed pure step
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.throughput import CONFIGS, batches_for, report, timed, versions  # noqa: E402

COUNT = 16   # distinct host batches cycled through


def _linen(cfg, ids, labels):
    import jax
    from dcnmix_jax import create_state, torch_adam, train_step
    from dcnmix_jax.model import model_for
    model = model_for(cfg)
    box = {"state": create_state(model, model.init(jax.random.key(0), ids[0]), torch_adam(1e-3),
                                 jax.random.key(1))}

    def window(n):
        for i in range(n):
            box["state"], loss = train_step(box["state"], ids[i % COUNT], labels[i % COUNT])
        loss.block_until_ready()
    return window


def _nnx_model(cfg):
    from flax import nnx
    from dcnmix_jax import torch_adam
    from dcnmix_jax.nnx import model_for
    model = model_for(cfg, rngs=nnx.Rngs(0))
    model.train()
    return model, nnx.Optimizer(model, torch_adam(1e-3), wrt=nnx.Param)


def _nnx_jit(cfg, ids, labels):
    from dcnmix_jax.nnx import train_step
    model, optimizer = _nnx_model(cfg)

    def window(n):
        for i in range(n):
            loss = train_step(model, optimizer, ids[i % COUNT], labels[i % COUNT])
        loss.block_until_ready()
    return window


def _cached(cfg, ids, labels):
    from flax import nnx
    from dcnmix_jax.nnx import train_step
    model, optimizer = _nnx_model(cfg)
    step = nnx.cached_partial(train_step, model, optimizer)

    def window(n):
        for i in range(n):
            loss = step(ids[i % COUNT], labels[i % COUNT])
        loss.block_until_ready()
    return window


def _fast(cfg, ids, labels):
    from dcnmix_jax.nnx import fast_step
    model, optimizer = _nnx_model(cfg)
    step, state, _ = fast_step(model, optimizer)
    box = {"state": state}

    def window(n):
        for i in range(n):
            box["state"], loss = step(box["state"], ids[i % COUNT], labels[i % COUNT])
        loss.block_until_ready()
    return window


LOOPS = {"linen (dcnmix_jax.train_step)": _linen, "nnx.jit train_step": _nnx_jit,
         "nnx.cached_partial": _cached, "nnx fast_step (split once, jax.jit)": _fast}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="1024,4096")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    cfg = CONFIGS["seed"].model_config()
    lines = [f"Command: `python benchmarks/nnx_loop.py {' '.join(sys.argv[1:])}`", "", versions(), "",
             "| loop | batch | train ex/s (median over rounds) | vs linen |", "| --- | --- | --- | --- |"]
    for batch in (int(b) for b in args.batches.split(",")):
        ids, labels = batches_for(CONFIGS["seed"], batch, COUNT)
        windows = {name: make(cfg, ids, labels) for name, make in LOOPS.items()}
        for window in windows.values():
            window(3)                                   # compile and warm up
        rates = {name: [] for name in LOOPS}
        for r in range(args.repeats):
            for name, window in windows.items():
                rates[name].append(batch / timed(window))
                print(f"batch {batch} round {r}: {name} {rates[name][-1]:,.0f} ex/s", file=sys.stderr)
        base = statistics.median(rates[next(iter(LOOPS))])
        for name, values in rates.items():
            rate = statistics.median(values)
            lines.append(f"| {name} | {batch} | {rate:,.0f} | {rate / base:.2f}x |")
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
