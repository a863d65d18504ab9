"""Generate a Criteo-format file of any size, to measure ingest and training at scale.

    python benchmarks/make_criteo_like.py --rows 5000000 --out /tmp/criteo_5m.txt [--gzip]

The layout is Criteo Kaggle's (dac) train.txt: no header, tab-separated, label, I1-I13,
C1-C26, missing values as empty fields. The shape follows the real file:
  * I1-I13: non-negative counts (I2 also takes -1..-3, as in Criteo), heavy-tailed (geometric
    mixtures), each missing in its own share of rows (0.5% to 45%);
  * C1-C26: 8-hex-digit hashed tokens; per-column cardinalities from 3 to 2M (scaled down
    with the row count so a small file is not all singletons), Zipf-distributed frequencies
    (exponent 1.1 to 1.4), some columns missing in up to 45% of rows;
  * label: about 26% positive, as Criteo's 25.6% (measured 26.0% over 300k rows), from a
    logistic model of a few columns (so AUC is learnable): --numeric-weight x log1p(v) of
    I1, I6 and I11 (default 0.15) plus three categorical columns;
  * tokens: token k of a column is the same in every file, whatever --rows and --seed (a
    fixed 32-bit bijection of column and k), so another --seed makes a "next day" file of
    the same token space (frequent tokens first; a larger file reaches further down).
Written with pyarrow's CSV writer in chunks, so any size fits in memory.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import time

import numpy as np

# (cardinality at 45M rows, zipf exponent, missing share) per categorical column
CATEGORICAL = [(1460, 1.2, 0.0), (583, 1.2, 0.0), (10_131_227, 1.1, 0.03), (2_202_608, 1.1, 0.03),
               (305, 1.3, 0.0), (24, 1.4, 0.12), (12_517, 1.2, 0.0), (633, 1.3, 0.0),
               (3, 1.4, 0.0), (93_145, 1.2, 0.0), (5_683, 1.2, 0.0), (8_351_593, 1.1, 0.03),
               (3_194, 1.2, 0.0), (27, 1.4, 0.0), (14_992, 1.2, 0.0), (5_461_306, 1.1, 0.03),
               (10, 1.4, 0.0), (5_652, 1.2, 0.0), (2_173, 1.2, 0.44), (4, 1.4, 0.44),
               (7_046_547, 1.1, 0.03), (18, 1.4, 0.76), (15, 1.4, 0.0), (286_181, 1.2, 0.03),
               (105, 1.3, 0.0), (142_572, 1.2, 0.44)]
NUMERIC_MISSING = [0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22]
FULL_ROWS = 45_840_617


def _tokens(column: int, card: int) -> np.ndarray:
    """The first `card` 8-hex-digit tokens of a column: token k is a fixed bijection of
    (column, k) on 32 bits (murmur3's finaliser), so the tokens are distinct and the same
    for every --rows and --seed: a file of another size or seed (a "next day") shares the
    token space, its frequent tokens first."""
    x = (np.arange(card, dtype=np.uint64) + np.uint64(column) * np.uint64(0x9E3779B9)) & np.uint64(0xFFFFFFFF)
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = ((x ^ (x >> np.uint64(shift))) * np.uint64(mult)) & np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    return np.char.mod("%08x", x)


def _zipf_ranks(rng, n: int, card: int, a: float) -> np.ndarray:
    return (rng.zipf(a, n) - 1) % card


def make_chunk(rng, n: int, vocab: list[np.ndarray], numeric_weight: float = 0.15):
    import pyarrow as pa
    columns, logit = {}, np.full(n, -2.42)
    for i, share in enumerate(NUMERIC_MISSING):
        v = rng.geometric(rng.choice([0.5, 0.05, 0.002], size=n, p=[0.5, 0.35, 0.15])) - 1
        if i == 1:
            v = v - rng.choice([0, 0, 0, 1, 2, 3], size=n)
        missing = rng.random(n) < share
        logit += numeric_weight * np.log1p(np.maximum(v, 0)) * (i in (0, 5, 10)) * ~missing
        columns[f"I{i + 1}"] = pa.array(v, mask=missing)
    for i, ((card, a, share), tokens) in enumerate(zip(CATEGORICAL, vocab)):
        ranks = _zipf_ranks(rng, n, len(tokens), a)
        missing = rng.random(n) < share
        if i in (2, 5, 16):
            logit += np.where(ranks % 3 == 0, 0.6, -0.3) * ~missing
        columns[f"C{i + 1}"] = pa.array(tokens[ranks], mask=missing)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return pa.table({"label": label, **columns})


def generate(rows: int, out: str, seed: int = 0, chunk: int = 500_000, progress=print,
             numeric_weight: float = 0.15) -> None:
    import pyarrow.csv as pcsv
    scale = min(1.0, rows / FULL_ROWS * 4)
    vocab = [_tokens(i, max(2, min(card, int(card * scale) + 2))) for i, (card, _, _) in
             enumerate(CATEGORICAL)]
    rng = np.random.default_rng(seed)
    options = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    t0 = time.time()
    with open(out, "wb") as fh:
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            pcsv.write_csv(make_chunk(rng, n, vocab, numeric_weight), fh, options)
            done += n
            progress(f"{done:,} / {rows:,} rows ({time.time() - t0:.0f} s)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gzip", action="store_true", help="also write OUT.gz")
    p.add_argument("--numeric-weight", type=float, default=0.15,
                   help="the label's weight on log1p of I1, I6, I11 (planted numeric signal)")
    args = p.parse_args(argv)
    generate(args.rows, args.out, args.seed,
             progress=lambda s: print(s, file=sys.stderr, flush=True),
             numeric_weight=args.numeric_weight)
    if args.gzip:
        with open(args.out, "rb") as src, gzip.open(args.out + ".gz", "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 2 ** 20:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
