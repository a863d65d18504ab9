"""Per-field vocabularies that turn raw categorical / numeric tokens into global feature ids.

Within a field, local id 0 is "missing", 1 is "out of vocabulary" (rare in training, or
unseen), and 2.. are the tokens seen at least `min_count` times in the training split,
most frequent first (ties by token). Fields are stacked: global id = offset + local id.
Numeric values become tokens through `bucketize` first (log buckets, the usual Criteo rule).
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import Sequence

import numpy as np

MISSING, OOV, FIRST_TOKEN = 0, 1, 2


def bucketize(value: float) -> str:
    """Criteo's log bucket: floor(ln(v)^2) for v > 2, else floor(v); returned as a token."""
    if value > 2:
        return f"L{int(math.floor(math.log(value) ** 2))}"
    return f"V{int(math.floor(value))}"


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Field names and, for each field, its kept tokens (local id = FIRST_TOKEN + position)."""

    field_names: tuple[str, ...]
    tokens: tuple[tuple[str, ...], ...]
    min_count: int

    @classmethod
    def build(cls, field_names: Sequence[str], columns: Sequence[Sequence[str | None]],
              min_count: int = 2) -> "Vocabulary":
        """Keep each field's tokens that occur at least min_count times in `columns`."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        kept = []
        for column in columns:
            counts = collections.Counter(t for t in column if t is not None)
            kept.append(tuple(sorted((t for t, c in counts.items() if c >= min_count),
                                     key=lambda t: (-counts[t], t))))
        return cls(tuple(field_names), tuple(kept), min_count)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(FIRST_TOKEN + len(t) for t in self.tokens)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.cardinalities)[:-1]]).astype(np.int64)

    @property
    def feat_dim(self) -> int:
        return int(sum(self.cardinalities))

    def encode(self, columns: Sequence[Sequence[str | None]]) -> np.ndarray:
        """Global ids int32 [n, field_num] for per-field token columns (None = missing)."""
        if len(columns) != len(self.field_names):
            raise ValueError(f"{len(columns)} columns for {len(self.field_names)} fields")
        out = []
        for offset, tokens, column in zip(self.offsets, self.tokens, columns):
            index = {t: FIRST_TOKEN + i for i, t in enumerate(tokens)}
            out.append([offset + (MISSING if t is None else index.get(t, OOV)) for t in column])
        return np.asarray(out, dtype=np.int64).T.reshape(-1, len(self.field_names)).astype(np.int32)
