"""The train step's GEMMs at their own shapes, against the 2048^3 matmul rate that
benchmarks/throughput.py divides by: how close to that rate a step made only of these
GEMMs could get (the ceiling of the "fraction of the matmul rate" figure).

    python benchmarks/gemm_shapes.py [--configs seed,criteo] [--batch 4096] [--out FILE]

Each forward GEMM [B, k] x [k, n] of the DCN-Mix step (gemm mixture form: per layer V^T x
[B, M] x [M, K r], the gate [B, M] x [M, K], U h [B, K r] x [K r, M]; the DNN tower; the
final linear) comes with its two backward GEMMs ([B, n] x [n, k] for the input gradient,
[k, B] x [B, n] for the weight gradient). Each is timed alone (medians of timed windows);
the ceiling is total FLOPs / sum(FLOPs_i / rate_i), as a share of the 2048^3 rate. The
step's elementwise work (BatchNorm, gates, dropout, Adam) only lowers it further.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def forward_gemms(bc, batch: int) -> list[tuple[str, int, int, int]]:
    m = bc.field_num * bc.emb_num + bc.dense_num
    kr = bc.k * bc.r
    out = []
    for layer in range(bc.order_num):
        out += [(f"cross {layer}: V^T x", batch, m, kr), (f"cross {layer}: gate", batch, m, bc.k),
                (f"cross {layer}: U h", batch, kr, m)]
    width = m
    for i, h in enumerate(bc.hidden_nums):
        out.append((f"DNN {i}", batch, width, h))
        width = h
    out.append(("final linear", batch, (m if bc.method == "parallel" else 0) + width, 1))
    return out


def with_backward(gemms):
    for name, b, k, n in gemms:
        yield name, (b, k, n)
        yield name + " (input grad)", (b, n, k)
        yield name + " (weight grad)", (k, b, n)


def rate(m: int, k: int, n: int) -> float:
    import jax
    from throughput import timed
    a = jax.random.normal(jax.random.key(0), (m, k))
    b = jax.random.normal(jax.random.key(1), (k, n))
    f = jax.jit(lambda x, y: x @ y)
    f(a, b).block_until_ready()

    def window(c):
        for _ in range(c):
            out = f(a, b)
        out.block_until_ready()
    return 2 * m * k * n / timed(window)


def main(argv=None) -> int:
    from throughput import CONFIGS, report, versions
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="seed,criteo")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--out")
    args = p.parse_args(argv)
    reference = rate(2048, 2048, 2048)
    lines = [f"Command: `python benchmarks/gemm_shapes.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), f"[2048, 2048] x [2048, 2048]: {reference / 1e9:.1f} GFLOP/s", ""]
    for key in args.configs.split(","):
        bc = CONFIGS[key]
        lines += [f"### {bc.name}, batch {args.batch}", "", "| GEMM | shape | GFLOP/s | of 2048^3 |",
                  "| --- | --- | --- | --- |"]
        flops = seconds = 0.0
        for name, (m, k, n) in with_backward(forward_gemms(bc, args.batch)):
            r = rate(m, k, n)
            flops, seconds = flops + 2 * m * k * n, seconds + 2 * m * k * n / r
            lines.append(f"| {name} | [{m}, {k}] x [{k}, {n}] | {r / 1e9:.1f} | {r / reference:.0%} |")
        lines += ["", f"Ceiling of a step made of these GEMMs alone: {flops / seconds / 1e9:.1f} "
                      f"GFLOP/s = {flops / seconds / reference:.0%} of the 2048^3 rate.", ""]
    report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
