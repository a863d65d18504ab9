"""Scale-out on simulated CPU devices: throughput on 1 vs 8 devices, memory per device of a
10M-id table sharded 8 ways. Not a speed target: 8 simulated devices share this machine's
cores, so the numbers show the overhead of the partitioned program, not a speed-up.

    python benchmarks/sharding.py [--out benchmarks/results/sharding.md] [--devices 8]

Runs itself in a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=DEVICES.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def per_device_bytes(tree) -> dict:
    """Bytes of the arrays in `tree` held by each device."""
    import jax
    out: dict = {}
    for leaf in jax.tree_util.tree_leaves(tree):
        for shard in leaf.addressable_shards:
            out[shard.device] = out.get(shard.device, 0) + shard.data.nbytes
    return out


def table_memory(feat_dim: int, devices: int) -> list[str]:
    """State bytes per device (table + Adam moments + the rest) for each optimiser, 1 vs N ways."""
    from dcnmix.config import TrainConfig
    from dcnmix_jax.trainer import JaxTrainer
    from dcnmix_jax.sharding import make_mesh
    from throughput import CONFIGS
    cfg = dataclasses.replace(CONFIGS["seed"], feat_dim=feat_dim).model_config()
    rows = [f"### State memory per device, {feat_dim:,}-id table (emb 16), seed config otherwise", "",
            "| embedding optimizer | mesh | state on one device (MiB) | max over devices (MiB) | total (MiB) |",
            "| --- | --- | --- | --- | --- |"]
    for emb_optimizer in ("dense", "lazy"):
        for mesh_shape in ((1, 1), (1, devices)):
            print(f"memory: {emb_optimizer} {mesh_shape}", file=sys.stderr, flush=True)
            mesh = None if mesh_shape == (1, 1) else make_mesh(*mesh_shape)
            backend = JaxTrainer(cfg, TrainConfig(embedding_optimizer=emb_optimizer), mesh=mesh)
            sizes = per_device_bytes(backend.state)
            mib = [v / 2 ** 20 for v in sizes.values()]
            rows.append(f"| {emb_optimizer} | {mesh_shape[0]}x{mesh_shape[1]} | {mib[0]:,.1f} | "
                        f"{max(mib):,.1f} | {sum(mib):,.1f} |")
            del backend
    return rows + [""]


def throughput(devices: int, batch: int) -> list[str]:
    from dcnmix_jax.sharding import make_mesh
    from throughput import CONFIGS, bench_jax
    import jax
    bc = CONFIGS["seed"]
    rows = [f"### Training throughput, seed config, batch {batch}, jax-scan (examples/s)", "",
            "| mesh (data x model) | devices | train ex/s | eval ex/s | vs 1 device |",
            "| --- | --- | --- | --- | --- |"]
    base = None
    for shape in (None, (devices, 1), (devices // 2, 2), (1, devices)):
        print(f"throughput: mesh {shape}", file=sys.stderr, flush=True)
        mesh = None if shape is None else make_mesh(*shape)
        r = bench_jax(bc, batch, scan=True, mesh=mesh)
        base = base or r["train"]
        label = "none (one device)" if shape is None else f"{shape[0]}x{shape[1]}"
        rows.append(f"| {label} | {1 if shape is None else devices} | {r['train']:,.0f} | "
                    f"{r['eval']:,.0f} | {r['train'] / base:.2f}x |")
        jax.clear_caches()
    return rows + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="write the Markdown here (default: stdout)")
    p.add_argument("--devices", type=int, default=8)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--table", type=int, default=10_000_000)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.child:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={args.devices}")
        return subprocess.call([sys.executable, os.path.abspath(__file__), "--child", *sys.argv[1:]],
                               env=env)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from throughput import report, versions
    report("\n".join([
        f"Command: `python benchmarks/sharding.py {' '.join(a for a in sys.argv[1:] if a != '--child')}`",
        "", versions(), "", *throughput(args.devices, args.batch),
        *table_memory(args.table, args.devices)]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
