"""Dataset specs for the trainers: 'synthetic', 'frappe[:DIR]', 'criteo:PATH', 'libfm:PATH',
'csv:PATH' -> (train, validation, test). numpy only."""
from __future__ import annotations

import os
from typing import Sequence

from .data import Dataset, load_criteo, load_csv, load_frappe, load_libfm, split, synthetic

KINDS = ("synthetic", "frappe", "criteo", "libfm", "csv")
SPLIT = (0.8, 0.1, 0.1)


class DatasetSpecError(ValueError):
    """A --dataset value that names no dataset this project can load."""


def default_frappe_dir() -> str:
    shared = os.environ.get("DCNMIX_SHARED", os.path.join("..", "shared"))
    return os.path.join(shared, "data", "frappe")


def load_splits(spec: str, *, synthetic_rows: int = 100_000, seed: int = 0,
                label: str = "label", categorical: Sequence[str] = (), numeric: Sequence[str] = (),
                min_count: int = 2) -> tuple[Dataset, Dataset, Dataset]:
    """Train / validation / test for a spec. Single files are split 80/10/10 by `seed`; for
    Criteo and CSV the vocabulary (min_count) is built on the training rows only."""
    kind, _, path = spec.partition(":")
    if kind not in KINDS:
        raise DatasetSpecError(f"unknown dataset {spec!r}: expected one of synthetic, frappe[:DIR], "
                               "criteo:PATH, libfm:PATH, csv:PATH")
    if kind == "synthetic":
        return split(synthetic(n=synthetic_rows, seed=seed), SPLIT, seed=seed)
    if kind == "frappe":
        folder = path or default_frappe_dir()
        if not os.path.isdir(folder):
            raise DatasetSpecError(f"frappe folder {folder!r} does not exist (use frappe:DIR)")
        return load_frappe(folder)
    if not path:
        raise DatasetSpecError(f"dataset {kind!r} needs a file: {kind}:PATH")
    if not os.path.isfile(path):
        raise DatasetSpecError(f"{path}: no such file")
    if kind == "libfm":
        return split(load_libfm(path), SPLIT, seed=seed)
    if kind == "criteo":
        return _split_with_train_vocab(load_criteo(path, min_count=1),
                                       lambda vocab: load_criteo(path, vocab=vocab), min_count, seed)
    if not categorical and not numeric:
        raise DatasetSpecError("csv datasets need --categorical and/or --numeric column names")
    load = lambda vocab=None: load_csv(path, label=label, categorical=categorical, numeric=numeric,
                                       vocab=vocab, min_count=1)
    return _split_with_train_vocab(load(), load, min_count, seed)


def _split_with_train_vocab(full: Dataset, reload, min_count: int, seed: int):
    """`full` was encoded keeping every token (min_count=1). Re-encode with a vocabulary built
    on the training rows alone, so validation/test values rare or unseen in training map to
    the out-of-vocabulary id; then split exactly as `split` does."""
    from .data.dataset import split_indices
    from .data.vocab import Vocabulary
    train_rows = split_indices(len(full), SPLIT, seed)[0]
    # Rebuild the vocabulary from the training rows' tokens by decoding their local ids.
    offsets = full.vocab.offsets
    columns = []
    for f, tokens in enumerate(full.vocab.tokens):
        local = full.ids[train_rows, f] - offsets[f]
        table = [None, None] + list(tokens)  # min_count=1 leaves no out-of-vocabulary id
        columns.append([table[i] for i in local])
    vocab = Vocabulary.build(full.field_names, columns, min_count)
    encoded = reload(vocab)
    return split(encoded, SPLIT, seed=seed)
