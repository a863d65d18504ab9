"""The in-memory dataset both trainers read, with deterministic splits and shuffled batches."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Iterator, Sequence

import numpy as np

from . import features

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
    dense:         float32 [n, D] dense values (typed data; None: none), named by dense_names
    multi:         int32 [n, Fm, L] multi-valued fields' global ids, -1 padding (None: none),
                   named by multi_names

    `inputs` is what a model takes (dcnmix.data.features): the ids alone, or the typed dict.
    """

    ids: np.ndarray
    labels: np.ndarray
    field_names: tuple[str, ...]
    cardinalities: tuple[int, ...]
    feat_dim: int
    vocab: object | None = None
    dense: np.ndarray | None = None
    multi: np.ndarray | None = None
    dense_names: tuple[str, ...] = ()
    multi_names: tuple[str, ...] = ()

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
        self._check_typed()
        if not np.isin(self.labels, (0.0, 1.0)).all():
            raise ValueError("labels must be 0 or 1")

    def _check_typed(self) -> None:
        n = self.ids.shape[0]
        for name, array, names, ndim in (("dense", self.dense, self.dense_names, 2),
                                         ("multi", self.multi, self.multi_names, 3)):
            if array is None:
                continue
            if array.ndim != ndim or array.shape[0] != n or array.shape[1] != len(names):
                raise ValueError(f"{name} shape {array.shape} does not match {n} rows and "
                                 f"{len(names)} {name} names")
        if self.dense is not None:
            object.__setattr__(self, "dense", self.dense.astype(np.float32, copy=False))
        if self.multi is not None:
            object.__setattr__(self, "multi", self.multi.astype(np.int32, copy=False))
            check_ids(np.where(self.multi < 0, 0, self.multi).reshape(n, -1) if n else
                      np.zeros((0, 1), np.int32), self.feat_dim)

    def typed_inputs(self) -> dict:
        """The Inputs fields of a model of these rows (dcnmix.config.Inputs): {} without typed
        arrays, else dense_num and multi_num."""
        out = {}
        if self.dense is not None:
            out["dense_num"] = int(self.dense.shape[1])
        if self.multi is not None:
            out["multi_num"] = int(self.multi.shape[1])
        return out

    def check_inputs(self, cfg) -> None:
        """A ValueError when a ModelConfig's typed inputs do not match these rows'."""
        want = {k: getattr(cfg.inputs, k) for k in ("dense_num", "multi_num") if getattr(cfg.inputs, k)}
        if want != self.typed_inputs():
            raise ValueError(f"the model takes typed inputs {want or 'none'}, the data has "
                             f"{self.typed_inputs() or 'none'} (dense and multi-valued columns)")

    @property
    def inputs(self):
        """What a model takes (dcnmix.data.features): ids, or {ids, dense, multi}."""
        return features.typed(self.ids, self.dense, self.multi)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def field_num(self) -> int:
        return int(self.ids.shape[1])

    def take(self, index) -> "Dataset":
        """The rows at `index` (an index array or slice), same schema."""
        typed = {k: getattr(self, k)[index] for k in ("dense", "multi") if getattr(self, k) is not None}
        return dataclasses.replace(self, ids=self.ids[index], labels=self.labels[index], **typed)


def fingerprint(splits: Sequence[Dataset]) -> str:
    """sha256 over every split's shape, feat_dim, field names, ids and labels: the data's
    identity, checked on --resume (about 1 GB/s; memory-mapped splits are read in chunks). A
    streamed split (dcnmix.data.streaming.ShardStream) gives its manifest's sha256s instead."""
    digest = hashlib.sha256()
    for part in splits:
        if not isinstance(part, Dataset):
            digest.update(f"stream {part.identity()}".encode())
            continue
        digest.update(repr((part.ids.shape, part.feat_dim, part.field_names)).encode())
        typed = [a for a in (part.dense, part.multi) if a is not None]
        if typed:
            digest.update(repr((part.dense_names, part.multi_names)).encode())
        for array in (part.ids, part.labels, *typed):
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
    """(inputs, labels [b] float32) batches, inputs the ids [b, field_num] int32 or the typed
    dict (Dataset.inputs); see batch_order."""
    inputs = dataset.inputs
    for index in batch_order(len(dataset), batch_size, seed=seed, epoch=epoch, drop_last=drop_last):
        yield features.take(inputs, index), dataset.labels[index]
