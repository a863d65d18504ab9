"""The in-memory dataset both trainers read, with deterministic splits and shuffled batches."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Iterator, Sequence

import numpy as np

log = logging.getLogger("dcnmix.data")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Categorical rows as global feature ids.

    ids:           int32 [n, field_num], each in [0, feat_dim)
    labels:        float32 [n], each 0.0 or 1.0
    field_names:   one name per column of ids
    cardinalities: ids each field may use (a field owns a contiguous id range where the
                   loader built the ids; for libfm files it is the observed span)
    feat_dim:      size of the embedding table the ids index
    vocab:         the vocabulary that encoded the rows (Criteo/CSV), reusable for other splits
    """

    ids: np.ndarray
    labels: np.ndarray
    field_names: tuple[str, ...]
    cardinalities: tuple[int, ...]
    feat_dim: int
    vocab: object | None = None

    def __post_init__(self):
        ids = np.asarray(self.ids)
        labels = np.asarray(self.labels)
        if ids.ndim != 2:
            raise ValueError(f"ids must be 2-D [n, field_num], got shape {ids.shape}")
        if labels.shape != (ids.shape[0],):
            raise ValueError(f"labels shape {labels.shape} does not match {ids.shape[0]} rows")
        if len(self.field_names) != ids.shape[1] or len(self.cardinalities) != ids.shape[1]:
            raise ValueError(
                f"{ids.shape[1]} columns but {len(self.field_names)} field names "
                f"and {len(self.cardinalities)} cardinalities")
        object.__setattr__(self, "ids", ids.astype(np.int32, copy=False))
        object.__setattr__(self, "labels", labels.astype(np.float32, copy=False))
        object.__setattr__(self, "field_names", tuple(self.field_names))
        object.__setattr__(self, "cardinalities", tuple(int(c) for c in self.cardinalities))
        check_ids(self.ids, self.feat_dim, self.field_names)
        if not np.isin(self.labels, (0.0, 1.0)).all():
            raise ValueError("labels must be 0 or 1")

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def field_num(self) -> int:
        return int(self.ids.shape[1])

    def take(self, index) -> "Dataset":
        """The rows at `index` (an index array or slice), same schema."""
        return dataclasses.replace(self, ids=self.ids[index], labels=self.labels[index])


def fingerprint(splits: Sequence[Dataset]) -> str:
    """sha256 over every split's shape, feat_dim, field names, ids and labels: the data's
    identity, checked on --resume (about 1 GB/s; memory-mapped splits are read in chunks)."""
    digest = hashlib.sha256()
    for part in splits:
        digest.update(repr((part.ids.shape, part.feat_dim, part.field_names)).encode())
        for array in (part.ids, part.labels):
            rows = max(1, (1 << 24) // max(array[:1].nbytes, 1))
            for start in range(0, len(array), rows):
                digest.update(np.ascontiguousarray(array[start:start + rows]).tobytes())
    return digest.hexdigest()


def out_of_range(ids: np.ndarray, feat_dim: int) -> tuple[int, int, int] | None:
    """(row, column, how many in all) of the first id outside [0, feat_dim), or None: the one
    range check of the loaders, the trainer and inference."""
    bad = (ids < 0) | (ids >= feat_dim)
    if not bad.any():
        return None
    row, col = map(int, np.argwhere(bad)[0])
    return row, col, int(bad.sum())


def check_ids(ids: np.ndarray, feat_dim: int, field_names: Sequence[str] | None = None) -> None:
    """Raise ValueError naming the first field and value outside [0, feat_dim)."""
    ids = np.asarray(ids)
    found = out_of_range(ids, feat_dim)
    if found is not None:
        row, col, count = found
        name = field_names[col] if field_names is not None else f"#{col}"
        raise ValueError(
            f"feature id {int(ids[row, col])} in field {name!r} (column {col}, row {row}) "
            f"is outside [0, {feat_dim}); {count} ids are out of range in all")


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
                  ) -> list[np.ndarray]:
    """Sorted row indices of each part of a deterministic shuffled split of n rows."""
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {tuple(fractions)}")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    starts = np.concatenate([[0], bounds[:-1]])
    return [np.sort(order[a:b]) for a, b in zip(starts, bounds)]


def split(dataset: Dataset, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
          ) -> tuple[Dataset, ...]:
    """Deterministic shuffled split into len(fractions) parts (fractions must sum to 1)."""
    return tuple(dataset.take(i) for i in split_indices(len(dataset), fractions, seed))


def batch_order(n: int, batch_size: int, *, seed: int | None = None, epoch: int = 0,
                drop_last: bool = False) -> list[np.ndarray]:
    """Row indices of each batch: shuffled by (seed, epoch) when seed is given, else in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = np.arange(n) if seed is None else np.random.default_rng((seed, epoch)).permutation(n)
    stop = n - n % batch_size if drop_last else n
    if stop < n:
        log.info("drop_last: %d of %d rows left out of this epoch", n - stop, n)
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def batches(dataset: Dataset, batch_size: int, *, seed: int | None = None, epoch: int = 0,
            drop_last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids [b, field_num] int32, labels [b] float32) batches; see batch_order."""
    for index in batch_order(len(dataset), batch_size, seed=seed, epoch=epoch, drop_last=drop_last):
        yield dataset.ids[index], dataset.labels[index]
