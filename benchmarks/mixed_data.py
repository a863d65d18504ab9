"""A generated CTR log of mixed types, the shape a CTR team's data has (issue 24): ids, a
device, a site, a historical click rate in [0, 1), a lognormal price, a tag list, an ISO
timestamp and a label written click / noclick, with planted signal in the rate, the price,
the tags and one device x rate cross (what a linear model cannot fit).

    python benchmarks/mixed_data.py --rows 120000 --out mixed.csv
"""
from __future__ import annotations

import argparse

import numpy as np

TAGS = tuple(f"t{i}" for i in range(30))
DEVICES = ("phone", "tablet", "desktop", "tv")


def mixed_frame(rows: int = 120_000, seed: int = 0):
    """A polars DataFrame: user, device, site, rate, price, tags ('t3|t17'), ts, label."""
    import polars as pl
    rng = np.random.default_rng(seed)
    device = rng.integers(0, len(DEVICES), rows)
    site = rng.integers(0, 200, rows)
    rate = rng.random(rows) ** 2                        # skewed to small rates, in [0, 1)
    price = np.exp(rng.normal(3.0, 1.0, rows))
    n_tags = rng.integers(0, 5, rows)
    tag_ids = [rng.choice(len(TAGS), k, replace=False) for k in n_tags]
    tag_effect = rng.normal(0.0, 0.8, len(TAGS))
    site_effect = rng.normal(0.0, 0.5, 200)
    cross = np.where(device % 2 == 0, 1.0, -1.0)        # the rate helps on phones and desktops
    logit = (-0.3 + 4.0 * cross * (rate - 0.33) + 0.9 * np.sin(np.log(price))
             + np.array([tag_effect[t].sum() for t in tag_ids]) + site_effect[site])
    label = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))
    seconds = np.sort(rng.integers(0, 30 * 86400, rows))
    ts = (np.datetime64("2026-01-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(str)
    price_text = np.round(price, 2).astype(object)
    price_text[rng.random(rows) < 0.02] = None          # 2% missing prices
    return pl.DataFrame({
        "user": [f"u{u}" for u in rng.integers(0, 5000, rows)],
        "device": [DEVICES[d] for d in device], "site": [f"s{s}" for s in site],
        "rate": np.round(rate, 4), "price": pl.Series(list(price_text), dtype=pl.Float64),
        "tags": ["|".join(TAGS[t] for t in ids) for ids in tag_ids], "ts": ts,
        "label": np.where(label, "click", "noclick")})


OPTIONS = dict(label="label", positive="click", categorical=("user", "device", "site"),
               dense=("rate", "price"), multivalued=("tags",), order_by="ts")
"""The DataOptions that read it typed (dcnmix.train(config, frame, **OPTIONS))."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=120_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="a .csv or .parquet file")
    args = p.parse_args()
    frame = mixed_frame(args.rows, args.seed)
    (frame.write_parquet if args.out.endswith(".parquet") else frame.write_csv)(args.out)
    print(f"{args.rows:,} rows -> {args.out}")


if __name__ == "__main__":
    main()
