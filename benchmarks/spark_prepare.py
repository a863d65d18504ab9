"""`dcnmix prepare` by the polars engine vs the Spark engine on one Criteo-format file: wall
time, peak memory (the prepare process, Spark's JVM, its Python workers) and whether the two
folders hold the same ids. Each engine runs in its own process (`dcnmix prepare ...`); the
memory of that process tree is sampled every 0.2 s from /proc.

    python benchmarks/make_criteo_like.py --rows 10000000 --out /tmp/criteo_10m.txt
    python benchmarks/spark_prepare.py /tmp/criteo_10m.txt --master 'local[2]' \
        --work /tmp/spark_bench --out benchmarks/results/spark_prepare_10m.md

Writes a markdown table (and the per-row costs the Criteo-1TB estimate in RESULTS.md uses).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def tree_rss(pid: int) -> dict:
    """RSS bytes of `pid` and its descendants, by role: prepare (the Python driver), jvm
    (Spark's driver and executors in local mode), workers (Spark's Python workers)."""
    out = {"prepare": 0, "jvm": 0, "workers": 0}
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    stack = [pid]
    while stack:
        p = stack.pop()
        stack += children.get(p, [])
        try:
            with open(f"/proc/{p}/statm") as fh:
                rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        role = "prepare" if p == pid else "jvm" if "java" in cmd.split(" ")[0] else "workers"
        out[role] += rss
    return out


def run(cmd: list[str]) -> tuple[float, dict]:
    """(seconds, peak RSS per role) of a command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"prepare": 0, "jvm": 0, "workers": 0, "total": 0}
    while proc.poll() is None:
        now = tree_rss(proc.pid)
        now["total"] = sum(now.values())
        peak = {k: max(v, now.get(k, 0)) for k, v in peak.items()}
        time.sleep(0.2)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read()[-3000:]}")
    return seconds, peak


def same_rows(a: str, b: str) -> bool:
    from dcnmix.data.prepared import check_prepared
    from dcnmix.data.shards import split_shards
    fa, fb = check_prepared(a), check_prepared(b)
    if fa.fields != fb.fields:
        return False
    for split in ("train", "valid", "test"):
        x, y = split_shards(a, split, verified=True), split_shards(b, split, verified=True)
        if not np.array_equal(x.concat()["ids"], y.concat()["ids"]):
            return False
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--work", default="/tmp/spark_bench")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    dcnmix = [sys.executable, "-m", "dcnmix", "prepare", f"criteo:{args.path}"]
    rows, results = None, {}
    for engine, extra in (("polars", []), ("spark", ["--engine", "spark", "--spark-master", args.master])):
        out = os.path.join(args.work, engine)
        results[engine] = run([*dcnmix, "--out", out, *extra])
        print(engine, results[engine], flush=True)
        if rows is None:
            from dcnmix.data.prepared import load_feature_map
            rows = sum(load_feature_map(out).info["rows"].values())
    identical = same_rows(os.path.join(args.work, "polars"), os.path.join(args.work, "spark"))
    load = os.getloadavg()[0]
    mib = lambda b: f"{b / 2 ** 20:,.0f}"
    lines = [f"# prepare: polars engine vs Spark {args.master}, {rows:,} rows "
             f"({os.path.getsize(args.path) / 2 ** 30:.2f} GiB)", "",
             f"Command: `python benchmarks/spark_prepare.py {args.path} --master '{args.master}'`",
             f"; {os.cpu_count()} cores, load {load:.2f} after the runs; ids identical: "
             f"**{identical}**", "",
             "| engine | seconds | rows/s | us/row | peak MiB: prepare | JVM | Python workers | all |",
             "|---|---|---|---|---|---|---|---|"]
    for engine, (seconds, peak) in results.items():
        lines.append(f"| {engine} | {seconds:.1f} | {rows / seconds:,.0f} | "
                     f"{1e6 * seconds / rows:.2f} | {mib(peak['prepare'])} | {mib(peak['jvm'])} | "
                     f"{mib(peak['workers'])} | {mib(peak['total'])} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
