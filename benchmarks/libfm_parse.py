"""Frappe's libfm files parsed at once (numpy, dcnmix.data.libfm's plain path) against the
line parser every file used to take (medians of --repeats, one process).

    python benchmarks/libfm_parse.py [--repeats 3] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)


def main(argv=None) -> int:
    import numpy as np
    from dcnmix.data import libfm
    from throughput import report, versions
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args(argv)
    folder = os.path.join(os.environ.get("DCNMIX_SHARED", os.path.join(HERE, "..", "..", "shared")),
                          "data", "frappe")
    paths = [os.path.join(folder, name) for name in libfm.FRAPPE_FILES]
    plain = libfm._read_plain

    def seconds(parse) -> float:
        libfm._read_plain = parse
        runs = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = [libfm.read_libfm(p) for p in paths]
            runs.append(time.perf_counter() - t)
        libfm._read_plain = plain
        return statistics.median(runs), out
    line, slow = seconds(lambda data: None)
    fast, quick = seconds(plain)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(slow, quick))
    rows = sum(len(ids) for ids, _ in quick)
    lines = [f"Command: `python benchmarks/libfm_parse.py {' '.join(argv or sys.argv[1:])}`", "",
             versions(), "", f"Frappe's three files, {rows:,} rows, median of {args.repeats}", "",
             "| parser | seconds | rows/s |", "| --- | --- | --- |",
             f"| line by line (before) | {line:.2f} | {rows / line:,.0f} |",
             f"| at once, numpy (after) | {fast:.2f} | {rows / fast:,.0f} |", "",
             f"{line / fast:.1f}x; ids and labels identical."]
    report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
