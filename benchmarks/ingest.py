"""Ingest: `dcnmix prepare` on a generated Criteo-format file, against the parser floor
(pyarrow.csv.read_csv and polars.read_csv of the same file), against its own two passes (the
design before the one parse, still taken by kinds without a coder), with I1-I13 as dense
values (typed fields: the two passes), and against the line-by-line loader it replaces (on a
slice, scaled); peak memory of prepare at two sizes.

    python benchmarks/make_criteo_like.py --rows 5000000 --out /tmp/criteo_5m.txt
    python benchmarks/ingest.py --file /tmp/criteo_5m.txt [--small-rows 1000000] [--repeats 3]

Each timing is the median of --repeats runs, each in a fresh subprocess (so the page cache
is warm for all of them alike, and peak RSS is the process's own).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

JOBS = {
    "pyarrow": """
import pyarrow as pa, pyarrow.csv as c
from dcnmix.data.tabular import CRITEO_FIELDS
t = c.read_csv(PATH, read_options=c.ReadOptions(column_names=['label', *CRITEO_FIELDS]),
               parse_options=c.ParseOptions(delimiter='\\t', quote_char=False),
               convert_options=c.ConvertOptions(strings_can_be_null=True))
ROWS = t.num_rows
""",
    "polars": """
import polars as pl
ROWS = pl.read_csv(PATH, separator='\\t', has_header=False, quote_char=None).height
""",
    "prepare": """
from dcnmix.data.prepare import PrepareOptions, prepare
f = prepare(PrepareOptions(kind='criteo', paths=(PATH,)), OUT)
ROWS = sum(f.info['rows'].values())
""",
    "prepare, two passes": """
from dcnmix.data.prepare import PrepareOptions, prepare
import dcnmix.data.prepare as P
P.coders_of = lambda opt: None      # the two passes of before this round (same bytes)
f = prepare(PrepareOptions(kind='criteo', paths=(PATH,)), OUT)
ROWS = sum(f.info['rows'].values())
""",
    "prepare --dense all": """
from dcnmix.data.prepare import PrepareOptions, prepare
f = prepare(PrepareOptions(kind='criteo', paths=(PATH,), dense=('all',)), OUT)
ROWS = sum(f.info['rows'].values())
""",
    "line loader": """
from dcnmix.data import load_criteo
ROWS = len(load_criteo(PATH))
""",
}


def run(job: str, path: str, out: str) -> dict:
    code = ("import resource, time\nPATH, OUT = %r, %r\nt0 = time.perf_counter()\n%s\n"
            "print(__import__('json').dumps({'seconds': time.perf_counter() - t0, 'rows': ROWS, "
            "'peak_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
            % (path, out, JOBS[job]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if proc.returncode:
        raise SystemExit(f"{job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def head(path: str, rows: int, out: str) -> str:
    with open(path, "rb") as src, open(out, "wb") as dst:
        for i, line in enumerate(src):
            if i == rows:
                break
            dst.write(line)
    return out


def median_run(job, path, out, repeats):
    runs = [run(job, path, out) for _ in range(repeats)]
    return {"seconds": statistics.median(r["seconds"] for r in runs), "rows": runs[0]["rows"],
            "peak_mib": max(r["peak_mib"] for r in runs)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--file", required=True, help="a Criteo-format file (make_criteo_like.py)")
    p.add_argument("--small-rows", type=int, default=1_000_000, help="the second size for memory")
    p.add_argument("--slice-rows", type=int, default=200_000, help="rows for the line loader")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tmp", default="/tmp/dcnmix-ingest")
    p.add_argument("--out", default=None, help="write the Markdown report here")
    args = p.parse_args(argv)
    os.makedirs(args.tmp, exist_ok=True)
    out = os.path.join(args.tmp, "prepared")
    size = os.path.getsize(args.file) / 2 ** 20
    print(f"uptime: {os.getloadavg()}", file=sys.stderr)
    results = {job: median_run(job, args.file, out, args.repeats)
               for job in ("pyarrow", "polars", "prepare", "prepare, two passes",
                           "prepare --dense all")}
    sliced = head(args.file, args.slice_rows, os.path.join(args.tmp, "slice.txt"))
    results["line loader"] = median_run("line loader", sliced, out, 1)
    small = head(args.file, args.small_rows, os.path.join(args.tmp, "small.txt"))
    small_prepare = median_run("prepare", small, out, 1)
    floor = results["pyarrow"]["seconds"]
    rate = {k: r["rows"] / r["seconds"] for k, r in results.items()}
    lines = [f"Command: `python benchmarks/ingest.py {' '.join(argv or sys.argv[1:])}`", "",
             f"File: {results['prepare']['rows']:,} rows, {size:,.0f} MiB (make_criteo_like.py); "
             f"load average at start {os.getloadavg()[0]:.2f}; median of {args.repeats} runs "
             "(line loader: one run on the slice)", "",
             "| reader | rows | seconds | rows/s | vs pyarrow read | peak RSS (MiB) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | {rate[name]:,.0f} | "
                     f"{floor / r['seconds'] * r['rows'] / results['pyarrow']['rows']:.2f}x | "
                     f"{r['peak_mib']:,.0f} |")
    lines += ["", f"prepare vs the line loader (rows/s): {rate['prepare'] / rate['line loader']:.1f}x; "
              f"prepare takes {results['prepare']['seconds'] / floor:.2f}x the plain pyarrow read "
              "(one parse into per-field codes, then the vocabulary and the ids remapped).",
              f"Peak RSS of prepare: {small_prepare['peak_mib']:,.0f} MiB at {small_prepare['rows']:,} "
              f"rows, {results['prepare']['peak_mib']:,.0f} MiB at {results['prepare']['rows']:,} rows.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
