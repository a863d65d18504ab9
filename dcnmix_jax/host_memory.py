"""Keep freed host memory in the process, so that a jitted step's scratch buffers do not
page-fault on every call (XLA's CPU backend). On by default: `import dcnmix_jax` applies it
(`applied_on_import`); DCNMIX_KEEP_FREED_MEMORY=0 in the environment leaves glibc as it is.

Why: an XLA CPU executable allocates its temporary buffer afresh on every call (46 MB for the
seed model's train step at batch 4096). glibc serves blocks above 32 MB with mmap and gives
them back on free, so each call touches brand-new pages: 11,000 minor page faults per step,
which made one jitted step per batch about 1.4x slower than the same step inside lax.scan
(where the buffer is allocated once per scan), and a user's plain jitted loop 1.5x slower
than the library's trainer. benchmarks/step_gap.py and benchmarks/plain_loop.py measure it;
benchmarks/RESULTS.md "Speed, round two" and "round three" have the figures.

And one arena for every thread: XLA allocates on its worker threads, and a thread's own
glibc arena holds at most 64 MB, so a larger scratch buffer (256 MB for the Criteo-like
step at batch 4096) was mapped afresh on every call whatever the mmap setting: 63,000 page
faults a step, one step per batch 1.3x slower than with the buffer kept.

The side effects, process-wide: glibc serves large blocks from the heap and never trims it,
so the process keeps its peak host memory instead of returning it to the OS (freed blocks
are reused by later allocations); threads share one arena, so their malloc calls take one
lock (XLA computes in buffers allocated once per call, and polars and pyarrow bring their own
allocators). Nothing changes on other C libraries (macOS, musl, Windows).
"""
from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
OPT_OUT = "DCNMIX_KEEP_FREED_MEMORY"


@functools.cache
def keep_freed_memory() -> bool:
    """On glibc: serve large blocks from the heap (no mmap), never trim it, and give every
    thread the one arena, so freed blocks are reused without new page faults. Returns whether it applied (False elsewhere:
    macOS, musl, Windows). Idempotent; an explicit call applies even with the opt-out set."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version        # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all([mallopt(M_MMAP_MAX, 0), mallopt(M_TRIM_THRESHOLD, 2**31 - 1),
                mallopt(M_ARENA_MAX, 1)])


def by_default() -> bool:
    """keep_freed_memory() unless DCNMIX_KEEP_FREED_MEMORY is 0 / off / false / no (then
    False, and glibc is left alone); what `import dcnmix_jax` and the trainer call."""
    if os.environ.get(OPT_OUT, "").strip().lower() in ("0", "off", "false", "no"):
        return False
    return keep_freed_memory()
