"""A sharded folder's training split, streamed shard by shard (docs/training.md "Training
from a sharded folder"). Framework-free.

    train = ShardStream(split_shards("prepared/big", "train"), schema)    # open_prepared does this
    for block, order in train.blocks(1024, seed=0, epoch=0, buffer_rows=1_000_000):
        trainer.train_chunks(block, order)           # block.inputs, block.labels; order: batches

Each epoch the shards are shuffled by (seed, epoch); process p of P takes the shuffled list's
[p::P] and reads its shards in that order into a shuffle buffer of `buffer_rows` rows (0: all
of them), which is permuted and cut into batches; the rows of an unfinished batch carry on
into the next buffer. One process, one shard and a buffer holding the split: the batches are
exactly dcnmix.loop.epoch_batches (the same generator, the same permutation, the shard's own
memory maps). Several processes: every process runs the same number of batches of
batch_size // P rows (from the manifest's row counts, which every process knows); the rest of
each process's rows is left out of the epoch, and logged.

Each shard is checked (its sha256, then ids, labels and typed arrays, as a Dataset) the first
time this process reads it, so a process reads and hashes only its own shards.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Iterator, NamedTuple

import numpy as np

from . import features
from .dataset import Dataset
from .errors import DataError
from .shards import SplitShards

log = logging.getLogger(__name__)
SCHEMA = ("field_names", "cardinalities", "feat_dim", "vocab", "dense_names", "multi_names")


class Block(NamedTuple):
    """Rows in memory that a trainer takes batches of (as of a Dataset: inputs, labels)."""

    inputs: object
    labels: np.ndarray


def shard_order(shards: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's order of the shards (its own generator: the rows' is (seed, epoch))."""
    return np.random.default_rng((seed, epoch, 1)).permutation(shards)


def row_generator(seed: int, epoch: int, process: int, processes: int) -> np.random.Generator:
    """The generator of a process's buffer permutations: one process's is (seed, epoch), as
    dcnmix.data.batch_order's; with several, each process's is its own."""
    spawn = (process,) if processes > 1 else ()
    return np.random.default_rng(np.random.SeedSequence((seed, epoch), spawn_key=spawn))


def epoch_steps(rows: tuple[int, ...], order: np.ndarray, processes: int, local: int) -> int:
    """Batches every process runs in an epoch of several processes: the fewest full local
    batches any process's shards hold."""
    return min(sum(rows[k] for k in order[p::processes]) // local for p in range(processes))


class ShardStream:
    """The training split of a sharded folder: as a Dataset for the loop's checks and records
    (len, field_num, feat_dim, vocab, typed_inputs, check_inputs), and its epochs as blocks
    (`blocks`). `history`: per epoch, the shards this process read, its batches and the rows
    it left out."""

    check_inputs = Dataset.check_inputs

    def __init__(self, source: SplitShards, **schema):
        self.source = source
        for name in SCHEMA:
            setattr(self, name, schema.get(name, () if name.endswith("names") else None))
        self.field_names, self.dense_names, self.multi_names = (
            tuple(self.field_names), tuple(self.dense_names), tuple(self.multi_names))
        self._datasets: dict[int, Dataset] = {}
        self.history: list[dict] = []

    def __len__(self) -> int:
        return len(self.source)

    @property
    def field_num(self) -> int:
        return len(self.field_names)

    def typed_inputs(self) -> dict:
        """As Dataset.typed_inputs, from the schema (every shard has the same arrays)."""
        out = {}
        if self.dense_names:
            out["dense_num"] = len(self.dense_names)
        if self.multi_names:
            out["multi_num"] = len(self.multi_names)
        return out

    def check_feat_dim(self, feat_dim: int) -> None:
        """A ValueError when a model's table is smaller than the feature map's ids (each shard's
        ids are checked against the feature map's feat_dim as it is read)."""
        if feat_dim < self.feat_dim:
            raise ValueError(f"the model's feat_dim {feat_dim:,} is smaller than the prepared "
                             f"folder's {self.feat_dim:,} ids")

    def identity(self) -> str:
        """The split's content as the manifest records it (rows and sha256 of every shard
        file, in order): what dcnmix.data.fingerprint hashes instead of the rows."""
        record = [(s["rows"], sorted((a, f.get("sha256")) for a, f in s["files"].items()))
                  for s in self.source.shards]
        text = json.dumps({"schema": [self.field_names, self.feat_dim, self.dense_names,
                                      self.multi_names], "shards": record})
        return hashlib.sha256(text.encode()).hexdigest()

    def shard(self, index: int) -> Dataset:
        """Shard `index` as a Dataset of memory maps, checked on this process's first read."""
        if index not in self._datasets:
            arrays = self.source.read(index)
            try:
                self._datasets[index] = Dataset(
                    arrays["ids"], arrays["labels"], vocab=self.vocab, dense=arrays.get("dense"),
                    multi=arrays.get("multi"), **{n: getattr(self, n) for n in SCHEMA if n != "vocab"})
            except ValueError as exc:
                name = self.source.shards[index]["files"]["ids"]["name"]
                raise DataError(os.path.join(self.source.folder, name), None, str(exc)) from None
        return self._datasets[index]

    def blocks(self, batch_size: int, *, seed: int, epoch: int, buffer_rows: int = 0,
               process: int = 0, processes: int = 1) -> Iterator[tuple[object, list[np.ndarray]]]:
        """The epoch's (block, batches) of this process: each block a buffer of rows (a Dataset
        or a Block), its batches index arrays into it, of batch_size // processes rows."""
        if batch_size % processes:
            raise ValueError(f"batch_size {batch_size} does not split over {processes} processes")
        order = shard_order(len(self.source.rows), seed, epoch)
        mine, local = [int(k) for k in order[process::processes]], batch_size // processes
        steps = epoch_steps(self.source.rows, order, processes, local) if processes > 1 else None
        if steps == 0:
            raise ValueError(f"the training split's {len(order)} shards give some process of "
                             f"{processes} no batch of {local} rows: use fewer processes or "
                             "more shards")
        record = {"epoch": epoch, "shards": mine, "batches": 0, "rows": 0, "left_out": 0}
        self.history.append(record)
        buffer = _Buffer(self, row_generator(seed, epoch, process, processes), local, steps,
                         total=sum(self.source.rows[k] for k in mine), capacity=buffer_rows)
        for k in mine:
            if buffer.done(record):
                break
            yield from buffer.add(k, record)
        yield from buffer.finish(record)
        record["left_out"] = buffer.total - record["rows"]
        if record["left_out"] and processes > 1:
            log.warning("process %d: %d of its %d training rows left out of epoch %d (every "
                        "process runs %d batches)", process, record["left_out"], buffer.total,
                        epoch + 1, record["batches"])


class _Buffer:
    """The shuffle buffer of one epoch: pieces of shards (memory maps) and carried rows."""

    def __init__(self, stream: ShardStream, rng, local: int, steps: int | None, *, total: int,
                 capacity: int):
        self.stream, self.rng, self.local, self.steps = stream, rng, local, steps
        self.total, self.capacity = total, max(capacity or total, local)   # at least a batch
        self.pieces: list = []           # Datasets (whole shards) and Blocks
        self.held = self.seen = 0

    def add(self, index: int, record: dict):
        shard = self.stream.shard(index)
        start = 0
        while start < len(shard):
            take = min(self.capacity - self.held, len(shard) - start)
            whole = start == 0 and take == len(shard)
            self.pieces.append(shard if whole else _slice(shard, slice(start, start + take)))
            self.held, self.seen, start = self.held + take, self.seen + take, start + take
            if self.held == self.capacity and self.seen < self.total:
                yield from self._emit(record, final=False)
                if self.done(record):
                    return

    def done(self, record: dict) -> bool:
        return self.steps is not None and record["batches"] == self.steps

    def finish(self, record: dict):
        if self.held and not self.done(record):
            yield from self._emit(record, final=True)

    def _emit(self, record: dict, *, final: bool):
        """Permute the buffer, yield its batches; an unfinished batch's rows carry on."""
        block = self.pieces[0] if len(self.pieces) == 1 else _join(self.pieces)
        perm = self.rng.permutation(self.held)
        full = self.held // self.local
        if self.steps is not None:
            full = min(full, self.steps - record["batches"])
        batches = [perm[i * self.local:(i + 1) * self.local] for i in range(full)]
        rest = perm[full * self.local:]
        if final and self.steps is None and len(rest):
            # the rule of dcnmix.loop.epoch_batches: a final batch of one row is left out
            if len(rest) > 1 or record["batches"] + len(batches) == 0:
                batches.append(rest)
            rest = rest[:0]
        self.pieces = [] if final or not len(rest) else [_slice(block, np.sort(rest))]
        self.held = 0 if final else len(rest)
        record["batches"] += len(batches)
        record["rows"] += sum(len(b) for b in batches)
        if batches:
            yield block, batches


def _slice(rows, index) -> Block:
    """Rows `index` of a Dataset or Block: a slice's are views (of a shard's memory maps), an
    index array's a copy."""
    inputs = features.take(rows.inputs, index)
    return Block(inputs, np.asarray(rows.labels[index]))


def _join(pieces: list) -> Block:
    """The pieces' rows, concatenated in memory."""
    parts = [features.parts(p.inputs) for p in pieces]
    inputs = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return Block(features.typed(**inputs), np.concatenate([np.asarray(p.labels) for p in pieces]))
