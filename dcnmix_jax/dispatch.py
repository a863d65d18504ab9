"""Which of the two ways of running an epoch's full batches trains: 'scan' (a chunk of steps
in one lax.scan dispatch over device-resident rows) or 'step' (one jitted step per batch,
the batch gathered on the host). They compute the same losses and weights within float
rounding (XLA may fuse the scan's body differently; tests/test_compile.py); which is faster depends on the machine (on one 2-core EPYC the
step was 1.5x faster, on another the scan 1.3x: benchmarks/RESULTS.md "Speed, round three").

'auto' (the default; DCNMIX_DISPATCH=scan or step forces one) measures both on the first
epoch with enough batches: a scan chunk after the one that compiled, then PROBE single steps
after the one that compiled; the rest of the run uses the faster. Shorter epochs use the scan.
"""
from __future__ import annotations

import os
import time

PROBE = 16          # single steps timed against a scan chunk
MODES = ("auto", "scan", "step")


class Dispatch:
    """The mode, and once measured, seconds per step of each ({'scan': s, 'step': s})."""

    def __init__(self, mode: str | None = None):
        mode = mode or os.environ.get("DCNMIX_DISPATCH", "auto").strip().lower()
        if mode not in MODES:
            raise ValueError(f"DCNMIX_DISPATCH={mode!r}: expected one of {', '.join(MODES)}")
        self.mode, self.seconds = mode, {}

    def choice(self) -> str:
        if self.mode != "auto":
            return self.mode
        if len(self.seconds) < 2:
            return "scan"
        return min(self.seconds, key=self.seconds.get)

    def plan(self, batches: int, chunk: int) -> list[tuple[str | None, int, int, bool]]:
        """(mode or None: the choice when it runs, first batch, end, timed) covering
        `batches` full batches; the measuring segments first when this epoch can hold them."""
        probe = self.mode == "auto" and not self.seconds and batches >= 2 * chunk + 1 + PROBE
        if not probe:
            return [(None, s, min(s + chunk, batches), False) for s in range(0, batches, chunk)]
        start = 2 * chunk + 1 + PROBE
        return [("scan", 0, chunk, False), ("scan", chunk, 2 * chunk, True),
                ("step", 2 * chunk, 2 * chunk + 1, False), ("step", 2 * chunk + 1, start, True)] + \
            [(None, s, min(s + chunk, batches), False) for s in range(start, batches, chunk)]

    def record(self, mode: str, seconds: float, steps: int) -> None:
        self.seconds[mode] = seconds / steps

    def info(self) -> dict:
        """What the summary records: the path used, and the measured ms per step."""
        return {"mode": self.mode, "used": self.choice(),
                **{f"{m}_ms_per_step": round(s * 1e3, 3) for m, s in self.seconds.items()}}


class Timer:
    """Seconds from start to `done(result)` (which waits for the device), for timed segments."""

    def __init__(self, timed: bool):
        self.start = time.perf_counter() if timed else None

    def done(self, result) -> float | None:
        if self.start is None:
            return None
        result.block_until_ready()
        return time.perf_counter() - self.start
