"""XLA float32 matmul rate at the seed train step's GEMM shapes against the 2048^3 rate that
benchmarks/throughput.py divides by (one process, medians of timed windows).

    python benchmarks/gemm_shapes.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax  # noqa: E402

from throughput import timed  # noqa: E402
shapes = [(2048, 2048, 2048), (4096, 160, 16), (4096, 16, 160), (4096, 160, 128), (4096, 128, 64), (4096, 64, 32), (4096, 160, 4)]
for m, k, n in shapes:
    a = jax.random.normal(jax.random.key(0), (m, k)); b = jax.random.normal(jax.random.key(1), (k, n))
    f = jax.jit(lambda x, y: x @ y); f(a, b).block_until_ready()
    def window(c):
        for _ in range(c): out = f(a, b)
        out.block_until_ready()
    t = timed(window)
    print(f"| [{m}, {k}] x [{k}, {n}] | {2*m*k*n/t/1e9:.1f} GFLOP/s |")
