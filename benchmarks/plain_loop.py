"""A Flax user's own training loop over `dcnmix_jax.DCN` against the seed's eager PyTorch
code, at the seed configuration: is the fast path on without calling anything?

    python benchmarks/plain_loop.py [--batch 4096] [--repeats 3] [--out FILE]

Jobs, each in a fresh process (the allocator setting is process-wide), interleaved over
--repeats rounds; each prints the median of 5 timed windows (throughput.timed):
  jax plain loop           `jax.jit` + optax.adam over dcnmix_jax.DCN, numpy batches, nothing
                           called first (what `import dcnmix_jax` does is all)
  jax, opted out           the same with DCNMIX_KEEP_FREED_MEMORY=0 (glibc as it comes)
  seed eager               the seed article's DCN class (../shared/seeds), torch.optim.Adam,
                           BCELoss, the same batches
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

FIELDS, IDS, EMB, ORDER = 10, 72, 16, 2
JOBS = {"jax plain loop": ("jax", {}),
        "jax, opted out": ("jax", {"DCNMIX_KEEP_FREED_MEMORY": "0"}),
        "seed eager": ("seed", {})}


def batches(batch: int, count: int = 8):
    import numpy as np
    rng = np.random.default_rng(0)
    ids = rng.integers(0, IDS, (count, batch, FIELDS)).astype(np.int32)
    return ids, (rng.random((count, batch)) < 0.3).astype(np.float32)


def jax_rate(batch: int) -> float:
    import jax
    import optax
    import dcnmix_jax
    from throughput import timed
    model = dcnmix_jax.DCN(field_num=FIELDS, feat_dim=IDS, emb_num=EMB, order_num=ORDER)
    ids, labels = batches(batch)
    variables = model.init(jax.random.key(0), ids[0, :2])
    tx = optax.adam(1e-3)
    state = [variables["params"], variables["batch_stats"], tx.init(variables["params"]),
             jax.random.key(1)]

    def step(params, stats, opt_state, key, x, y):
        key, drop = jax.random.split(key)

        def loss_fn(p):
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True,
                                      method=dcnmix_jax.DCN.logits, rngs={"dropout": drop},
                                      mutable=["batch_stats"])
            return optax.sigmoid_binary_cross_entropy(logits, y).mean(), new["batch_stats"]
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state, key, loss
    step = jax.jit(step, donate_argnums=(0, 1, 2, 3))

    def window(n):
        for i in range(n):
            *state[:], loss = step(*state, ids[i % 8], labels[i % 8])   # the state donated
        loss.block_until_ready()
    return batch / timed(window)


def seed_rate(batch: int) -> float:
    import importlib.util
    import torch
    from throughput import timed
    path = os.path.join(os.environ.get("DCNMIX_SHARED", os.path.join(HERE, "..", "..", "shared")),
                        "seeds", "seed_dcn_mix_reference.py")
    spec = importlib.util.spec_from_file_location("seed_dcn_mix_reference", path)
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    torch.manual_seed(0)
    model = seed.DCN(FIELDS, IDS, EMB, ORDER)
    opt, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-3), torch.nn.BCELoss()
    ids, labels = batches(batch)
    xs = [torch.as_tensor(x, dtype=torch.long) for x in ids]
    ys = [torch.as_tensor(y) for y in labels]
    model.train()

    def window(n):
        for i in range(n):
            opt.zero_grad()
            loss_fn(model(xs[i % 8]), ys[i % 8]).backward()
            opt.step()
    return batch / timed(window)


def run_job(name: str, batch: int) -> float:
    kind, env = JOBS[name]
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", kind,
                          "--batch", str(batch)], capture_output=True, text=True,
                         env={**os.environ, **env})
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["rate"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", choices=("jax", "seed"), help=argparse.SUPPRESS)
    p.add_argument("--out")
    args = p.parse_args(argv)
    if args.worker:
        rate = (jax_rate if args.worker == "jax" else seed_rate)(args.batch)
        print(json.dumps({"rate": rate}))
        return 0
    from throughput import report, versions
    load = os.getloadavg()[0]
    rates = {name: [] for name in JOBS}
    for _ in range(args.repeats):
        for name in JOBS:
            rates[name].append(run_job(name, args.batch))
    seed = statistics.median(rates["seed eager"])
    lines = [f"Command: `python benchmarks/plain_loop.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), f"load average at start {load:.2f}", "",
             f"seed config, batch {args.batch}, median of {args.repeats} fresh processes", "",
             "| loop | train ex/s | runs | vs seed eager |", "| --- | --- | --- | --- |"]
    for name, r in rates.items():
        lines.append(f"| {name} | {statistics.median(r):,.0f} | "
                     f"{' / '.join(f'{x:,.0f}' for x in r)} | {statistics.median(r) / seed:.2f}x |")
    report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
