"""The built-in dataset: purchase records shaped like the seed article's data.

Users (age, gender, membership years, city level, purchasing power, activity, channel) and
items (second-level category, origin, brand) give 10 categorical fields with 72 ids in all,
as in the seed. Raw values are binned or hashed into buckets as the seed describes: age in
years is binned, brand ids are hashed.

Hidden model (what a classifier has to find). A user u buys item i with odds
    exp( s(u, i) ),  s = sum of planted 2nd-order terms T_ab[x_a, x_b]
                       + planted 3rd-order terms T_abc[x_a, x_b, x_c]
between user and item fields (the tables are random, N(0, strength), centred so that every
row and column averages 0: no first-order signal). Positives are purchases drawn with those
odds; negatives are the seed's random negative sampling: the user of a positive paired with
a uniformly random item. Telling them apart needs the user x item crosses, so a cross
network beats logistic regression here (README reports measured AUCs).
"""
from __future__ import annotations

import itertools

import numpy as np

from .dataset import Dataset

USER_FIELDS = (("age", 8), ("gender", 3), ("member_years", 6), ("city_level", 5),
               ("purchase_power", 5), ("activity", 4), ("channel", 4))
ITEM_FIELDS = (("category", 14), ("origin", 8), ("brand", 15))
FIELDS = USER_FIELDS + ITEM_FIELDS
FIELD_NAMES = tuple(name for name, _ in FIELDS)
CARDINALITIES = tuple(card for _, card in FIELDS)
OFFSETS = np.concatenate([[0], np.cumsum(CARDINALITIES)[:-1]])
FEAT_DIM = int(sum(CARDINALITIES))  # 72, as in the seed

# (field, field[, field]) planted interactions: user fields crossed with item fields.
PAIRS = (("age", "category"), ("gender", "category"), ("purchase_power", "brand"),
         ("city_level", "origin"), ("member_years", "brand"))
TRIPLES = (("age", "gender", "category"), ("purchase_power", "channel", "brand"))

_AGE_EDGES = np.array([18, 23, 28, 33, 40, 48, 58])  # 8 age buckets


def _centred(rng: np.random.Generator, shape, strength: float) -> np.ndarray:
    """Random table with zero mean along every axis (pure interaction, no main effect)."""
    t = rng.normal(0.0, strength, size=shape)
    for axis in range(t.ndim):
        t = t - t.mean(axis=axis, keepdims=True)
    return t


def _hash_bucket(raw: np.ndarray, buckets: int) -> np.ndarray:
    """Stable multiplicative hash of raw integer ids into `buckets` bins."""
    return ((raw.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
            % np.uint64(buckets)).astype(np.int64)


def _users(rng: np.random.Generator, n: int) -> np.ndarray:
    age_years = np.clip(rng.normal(36, 11, n), 15, 75)
    cols = [np.digitize(age_years, _AGE_EDGES)]
    for _, card in USER_FIELDS[1:]:
        cols.append(rng.choice(card, size=n, p=rng.dirichlet(np.full(card, 3.0))))
    return np.stack(cols, 1)


def _items(rng: np.random.Generator, n: int) -> np.ndarray:
    category = rng.choice(14, size=n, p=rng.dirichlet(np.full(14, 3.0)))
    origin = rng.choice(8, size=n, p=rng.dirichlet(np.full(8, 3.0)))
    brand = _hash_bucket(rng.integers(0, 5000, size=n), 15)
    return np.stack([category, origin, brand], 1)


def _score(local: np.ndarray, tables) -> np.ndarray:
    index = {name: i for i, name in enumerate(FIELD_NAMES)}
    s = np.zeros(local.shape[0])
    for names, table in tables:
        s += table[tuple(local[:, index[f]] for f in names)]
    return s


def synthetic(n: int = 100_000, seed: int = 0, neg_ratio: float = 1.0,
              strength: float = 1.0) -> Dataset:
    """n rows (positives and neg_ratio negatives per positive, shuffled); deterministic per seed."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    card = dict(FIELDS)
    tables = [(names, _centred(rng, tuple(card[f] for f in names), strength))
              for names in itertools.chain(PAIRS, TRIPLES)]
    n_pos = int(round(n / (1.0 + neg_ratio)))
    n_neg = n - n_pos
    # Positives: candidate (user, item) pairs kept with probability exp(s - max s).
    pos = []
    while sum(len(p) for p in pos) < n_pos:
        m = 4 * n_pos
        cand = np.concatenate([_users(rng, m), _items(rng, m)], 1)
        s = _score(cand, tables)
        pos.append(cand[rng.random(m) < np.exp(s - s.max() + 2.0)])
    pos = np.concatenate(pos)[:n_pos]
    # Negatives: a positive's user with a random item (the seed's random negative sampling).
    users = pos[rng.integers(0, n_pos, size=n_neg), :len(USER_FIELDS)]
    neg = np.concatenate([users, _items(rng, n_neg)], 1)
    local = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(n_pos), np.zeros(n_neg)]).astype(np.float32)
    order = rng.permutation(n)
    ids = (local + OFFSETS)[order].astype(np.int32)
    return Dataset(ids, labels[order], FIELD_NAMES, CARDINALITIES, FEAT_DIM)
