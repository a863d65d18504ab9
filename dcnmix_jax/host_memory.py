"""Keep freed host memory in the process, so that a jitted step's scratch buffers do not
page-fault on every call (XLA's CPU backend).

Why: an XLA CPU executable allocates its temporary buffer afresh on every call (46 MB for the
seed model's train step at batch 4096). glibc serves blocks above 32 MB with mmap and gives
them back on free, so each call touches brand-new pages: 11,000 minor page faults per step,
which made one jitted step per batch about 1.4x slower than the same step inside lax.scan
(where the buffer is allocated once per scan). benchmarks/step_gap.py measures it;
benchmarks/RESULTS.md "Speed, round two" has the figures.

    import dcnmix_jax
    dcnmix_jax.keep_freed_memory()   # once, before training; the trainer does it itself
"""
from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


@functools.cache
def keep_freed_memory() -> bool:
    """On glibc: serve large blocks from the heap (no mmap) and never trim it, so freed
    blocks are reused without new page faults. The process keeps its peak host memory
    instead of returning it to the OS. Returns whether it applied (False elsewhere: macOS,
    musl, Windows). Idempotent."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version        # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
