"""The one-parse path, taken when every field's kind has a coder (Kind.coder: categorical,
numeric with the 'log' rule) and the source is text: each file is parsed once. Per batch,
every field's values become global codes (dcnmix.data.prepare.codes), appended per split to
temporary files in the working folder (a block per batch, each field's codes in the
narrowest integer type that holds them), and the training rows' count of each code is added
up (np.bincount). After the parse each field's vocabulary is fitted from its codes' tokens
and counts, and the temporary codes are remapped, block by block, into {split}.ids.npy
through a lookup code -> local id per field (the temporary files are then removed). Same
rows, ids, labels and shares as the two passes (counting, encoding)."""
from __future__ import annotations

import os

import numpy as np

from ..fieldkinds import KINDS, Field, ValueCounts
from .codes import CODERS
from .counting import label_values
from .encoding import SplitWriter, raw_bytes
from .options import SPLITS, PrepareOptions
from .rows import checked_rows
from .splits import Splitter

TEXT_SOURCES = ("criteo", "csv")


def coders_of(opt: PrepareOptions) -> list | None:
    """Each field's coder, or None when a field's kind has none (or the source is not text,
    whose columns could come typed otherwise): then the two passes."""
    if opt.kind not in TEXT_SOURCES:
        return None
    names = [(KINDS[kind].coder(name, opt), name, kind) for name, kind in opt.fields]
    if any(coder is None for coder, _, _ in names):
        return None
    return [CODERS[coder](name, kind, opt.min_count) for coder, name, kind in names]


def narrowest(size: int):
    """The smallest integer type holding the codes 0..size-1 (the temporary files' width)."""
    return np.uint8 if size <= 1 << 8 else np.uint16 if size <= 1 << 16 else np.int32


def _path(folder: str, split: str, what: str) -> str:
    return os.path.join(folder, f".{split}.{what}")


class Coded:
    """One parse's output: per split the temporary codes and labels, the rows, and per field
    the training rows' count of each code."""

    def __init__(self, coders: list, folder: str):
        self.coders, self.folder = coders, folder
        self.rows, self.counts = [0, 0, 0], [np.zeros(1, np.int64) for _ in coders]
        self.chunks = [[], [], []]        # (rows, dtype per field) of each block, per split
        self.files = [(open(_path(folder, s, "codes"), "wb"), open(_path(folder, s, "labels"), "wb"))
                      for s in SPLITS]
        self.lookups = None

    def add(self, codes: np.ndarray, y: np.ndarray, split: np.ndarray) -> None:
        """A batch's codes (int32 [fields, rows]) and labels: each split's rows, in file
        order, appended as one block to its files (field after field, each field's codes in
        the narrowest type that holds its codes so far); the training rows counted."""
        if not len(split):
            return
        only = int(split[0]) if split.min() == split.max() else None
        for s, (codes_fh, labels_fh) in enumerate(self.files):
            if only is not None and s != only:
                continue
            rows = slice(None) if only is not None else np.flatnonzero(split == s)
            part = codes[:, rows] if only is not None else codes.take(rows, axis=1)
            if not part.shape[1]:
                continue
            widths = [narrowest(coder.size) for coder in self.coders]
            for j, dtype in enumerate(widths):
                codes_fh.write(raw_bytes(part[j].astype(dtype, copy=False)))
            labels_fh.write(raw_bytes(y[rows]))
            self.chunks[s].append((part.shape[1], widths))
            self.rows[s] += part.shape[1]
            if s == 0:
                for j, coder in enumerate(self.coders):
                    self._count(j, part[j], coder.size)

    def _count(self, j: int, codes: np.ndarray, size: int) -> None:
        self._grow(j, size)
        counted = np.bincount(codes, minlength=size)
        self.counts[j][:len(counted)] += counted

    def _grow(self, j: int, size: int) -> None:
        """Field j's counts to `size` codes (codes first seen outside train count 0)."""
        if len(self.counts[j]) < size:
            self.counts[j] = np.concatenate([self.counts[j], np.zeros(size - len(self.counts[j]),
                                                                        np.int64)])

    def close(self) -> None:
        for fhs in self.files:
            for fh in fhs:
                fh.close()

    def fields(self) -> tuple[Field, ...]:
        """Each field fitted on its training counts (keeps the lookups for `write`)."""
        for j, coder in enumerate(self.coders):
            self._grow(j, coder.size)
        fitted = [c.fit(n) for c, n in zip(self.coders, self.counts)]
        self.lookups = [lookup for _, lookup in fitted]
        return tuple(field for field, _ in fitted)

    def write(self, fmap, path: str, log) -> dict:
        """{split}.ids.npy / .labels.npy from the temporary files (removed), the ids through
        the lookups of `fields`; returns the missing and out-of-vocabulary shares."""
        offsets = fmap.offsets.astype(np.int32)
        writer = SplitWriter(self.folder, self.rows, fmap)
        for s, split in enumerate(SPLITS):
            with open(_path(self.folder, split, "codes"), "rb") as codes_fh, \
                    open(_path(self.folder, split, "labels"), "rb") as labels_fh:
                for rows, widths in self.chunks[s]:
                    local = np.empty((len(widths), rows), np.int32)
                    for j, dtype in enumerate(widths):
                        np.take(self.lookups[j], np.fromfile(codes_fh, dtype, rows), out=local[j])
                    local = local.T
                    y = np.fromfile(labels_fh, np.float32, rows)
                    writer.append(s, {"ids": local + offsets, "labels": y}, local)
                    log(f"wrote {sum(writer.filled):,} of {sum(self.rows):,} rows")
            for what in ("codes", "labels"):
                os.remove(_path(self.folder, split, what))
        writer.close(path)
        return writer.shares(fmap.id_names)


def code_pass(opt: PrepareOptions, splitter: Splitter, coders: list, folder: str, log
              ) -> tuple[Coded, dict]:
    """Parse every file once into codes (Coded); also returns {label value: training rows}
    with --positive (else {})."""
    import polars as pl
    coded, labels = Coded(coders, folder), ValueCounts()
    try:
        for _, _, batch, _, split, y in checked_rows(opt, splitter):
            codes = np.empty((len(coders), batch.height), np.int32)
            for j, coder in enumerate(coders):
                codes[j] = coder.codes(batch[coder.name])
            coded.add(codes, y, split)
            if opt.positive is not None:
                labels.add(batch.filter(pl.Series(split == 0))[opt.label].cast(pl.String))
            log(f"coded {sum(coded.rows):,} rows")
    finally:
        coded.close()
    return coded, label_values(labels)
