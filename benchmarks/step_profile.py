"""Where the JAX train step's time goes: ablations of the step, timed against each other in
one process (seed configuration, lax.scan of 32 steps, the trainer's path).

    python benchmarks/step_profile.py [--batch 4096] [--repeats 7] [--out FILE]

Each variant is its own jitted function over the same state and batches; timing windows
alternate between the variants, and each variant's median over --repeats windows is shown.
Variants that change what is computed (no dropout, a frozen table) are upper bounds on what
removing that cost could gain, not options of the trainer.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

VARIANTS = {
    "trainer's step (dense Adam, hash dropout masks: dcnmix_jax.dropout)": "base",
    "flax nn.Dropout (a threefry word per element; the trainer before)": "threefry",
    "no dropout (upper bound: the cost of the dropout masks)": "nodrop",
    "table frozen (upper bound: the cost of the embedding gradient's scatter-add)": "frozen",
    "dropout masks from 16-bit halves of threefry words": "split16",
    "dropout keys from the 'rbg' PRNG instead of threefry": "rbg",
    "embedding lookup as a one-hot matmul": "onehot",
}


def _split16_dropout():
    """Dropout whose keep test uses 16 random bits (two per threefry word): p is rounded to
    a multiple of 2^-16."""
    import jax
    import jax.numpy as jnp
    from dcnmix_jax.dropout import Dropout

    class Dropout16(Dropout):
        def keep(self, key, shape):
            size = int(np.prod(shape))
            words = jax.random.bits(key, (-(-size // 2),), jnp.uint32)
            r = jnp.stack([words & 0xFFFF, words >> 16], axis=-1).reshape(-1)[:size]
            return r.reshape(shape) >= jnp.uint32(round(self.rate * 65536))
    return Dropout16


def make_steps(variant: str):
    import jax
    import jax.numpy as jnp
    import optax
    from dcnmix_jax.model import DCN
    from dcnmix_jax.steps import scan_steps

    def loss_fn(params, state, ids, labels):
        key = jax.random.fold_in(state.dropout_key, state.step)
        if variant == "rbg":
            data = jnp.concatenate([state.dropout_key, state.dropout_key])
            key = jax.random.fold_in(jax.random.wrap_key_data(data, impl="rbg"), state.step)
        variables = {"params": params, "batch_stats": state.batch_stats}
        kwargs = dict(train=True, rngs={"dropout": key}, mutable=["batch_stats"])
        table = params["embedding"]["embedding"]
        if variant == "frozen":
            emb = jax.lax.stop_gradient(jnp.take(table, ids, axis=0))
        elif variant == "onehot":
            emb = jax.nn.one_hot(ids, table.shape[0], dtype=table.dtype) @ table
        else:
            logits, upd = state.apply_fn(variables, ids, method=DCN.logits, **kwargs)
            return optax.sigmoid_binary_cross_entropy(logits, labels).mean(), upd["batch_stats"]
        logits, upd = state.apply_fn(variables, emb, method=DCN.logits_from_embeddings, **kwargs)
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean(), upd["batch_stats"]

    def step(state, ids, labels):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, state, ids, labels)
        return state.apply_gradients(grads=grads, batch_stats=stats), loss
    return jax.jit(scan_steps(step), donate_argnums=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    import jax
    from flax import linen as nn
    import dcnmix_jax.model as model_module
    from dcnmix_jax.trainer import JaxTrainer
    from throughput import CONFIGS, SCAN, batches_for, report, versions
    bc = CONFIGS["seed"]
    ids, labels = batches_for(bc, args.batch, SCAN)
    data = (jax.device_put(ids.reshape(-1, bc.field_num)), jax.device_put(labels.reshape(-1)),
            jax.device_put(np.arange(SCAN * args.batch, dtype=np.int32).reshape(SCAN, args.batch)))
    runs = {}
    for label, variant in VARIANTS.items():
        print(f"compiling: {label}", file=sys.stderr, flush=True)
        cfg = bc.model_config()
        if variant == "nodrop":
            cfg = dataclasses.replace(cfg, dropout=0.0)
        state = JaxTrainer(cfg).state
        steps = make_steps(variant)
        original = model_module.Dropout
        model_module.Dropout = {"split16": _split16_dropout, "threefry": lambda: nn.Dropout}.get(
            variant, lambda: original)()
        try:  # the first call traces with the Dropout chosen here
            state, losses = steps(state, *data)
            losses.block_until_ready()
        finally:
            model_module.Dropout = original
        runs[label] = [steps, state, []]
    for _ in range(args.repeats):
        for label, run in runs.items():
            t = time.perf_counter()
            for _ in range(3):
                run[1], losses = run[0](run[1], *data)
            losses.block_until_ready()
            run[2].append((time.perf_counter() - t) / (3 * SCAN))
    base = statistics.median(runs[next(iter(VARIANTS))][2])
    lines = [f"Command: `python benchmarks/step_profile.py {' '.join(sys.argv[1:])}`", "", versions(), "",
             f"### Train step ablations, {bc.name}, batch {args.batch}, jax-scan", "",
             "| variant | ms / step | examples/s | vs the trainer's step |", "| --- | --- | --- | --- |"]
    for label, (_, _, times) in runs.items():
        ms = statistics.median(times)
        lines.append(f"| {label} | {ms * 1e3:.2f} | {args.batch / ms:,.0f} | {ms / base - 1:+.0%} |")
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
