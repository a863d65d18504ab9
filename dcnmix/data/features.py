"""A model's input batch, framework-free: the single-id fields alone (ids [B, F] int32, the
seed's input, unchanged), or a typed batch, a dict of the arrays present:

    ids    int32   [B, F]       global ids of the single-id fields (categorical, bucketed, hashed)
    dense  float32 [B, D]       dense values, transformed by the feature map
    multi  int32   [B, Fm, L]   multi-valued fields' global ids, -1 padding (a missing or empty
                                list holds the field's missing id)

Every model of both frameworks takes either form (the input layer, dcnmix_*.inputs); these
helpers slice, size and check them without knowing which.
"""
from __future__ import annotations

import numpy as np

NAMES = ("ids", "dense", "multi")
DTYPES = {"ids": np.int32, "dense": np.float32, "multi": np.int32}


def parts(batch) -> dict:
    """{name: array} of a batch (a bare array is the ids)."""
    return dict(batch) if isinstance(batch, dict) else {"ids": batch}


def take(batch, index):
    """Rows `index` of every array of the batch, in the batch's form."""
    if isinstance(batch, dict):
        return {k: v[index] for k, v in batch.items()}
    return batch[index]


def rows(batch) -> int:
    return int(len(parts(batch)["ids"]))


def nbytes(batch) -> int:
    return int(sum(v.nbytes for v in parts(batch).values()))


def typed(ids, dense=None, multi=None):
    """The batch of these arrays: the bare ids when there is nothing else."""
    if dense is None and multi is None:
        return ids
    out = {"ids": ids}
    if dense is not None:
        out["dense"] = dense
    if multi is not None:
        out["multi"] = multi
    return out


def example(cfg, batch_rows: int = 2, length: int = 1):
    """A batch of zeros of the shapes a ModelConfig's model takes (to initialise it)."""
    inputs = cfg.inputs
    return typed(np.zeros((batch_rows, cfg.field_num), np.int32),
                 np.zeros((batch_rows, inputs.dense_num), np.float32) if inputs.dense_num else None,
                 np.zeros((batch_rows, inputs.multi_num, length), np.int32) if inputs.multi_num else None)


def check(batch, cfg) -> None:
    """A ValueError naming the array and the shape a ModelConfig's model does not take."""
    got, inputs = parts(batch), cfg.inputs
    want = {"ids": cfg.field_num}
    if inputs.dense_num:
        want["dense"] = inputs.dense_num
    if inputs.multi_num:
        want["multi"] = inputs.multi_num
    if set(got) != set(want):
        raise ValueError(f"the model takes inputs {sorted(want)}, got {sorted(got)}")
    for name, width in want.items():
        shape = np.shape(got[name])
        ndim = 3 if name == "multi" else 2
        if len(shape) != ndim or shape[1] != width:
            raise ValueError(f"{name} must have shape [batch, {width}{', length' if ndim == 3 else ''}]"
                             f", got {shape}")


def serving_inputs(cfg) -> list[tuple[str, type, tuple]]:
    """(name, dtype, shape) of each input an exported model takes, in order (the serving
    contract, docs/serving.md): ids int32 [batch, F], then dense float32 [batch, D] and
    multi int32 [batch, Fm, length] when the model has them; 'batch' and 'length' symbolic."""
    out = [("ids", np.int32, ("batch", cfg.field_num))]
    if cfg.inputs.dense_num:
        out.append(("dense", np.float32, ("batch", cfg.inputs.dense_num)))
    if cfg.inputs.multi_num:
        out.append(("multi", np.int32, ("batch", cfg.inputs.multi_num, "length")))
    return out


def describe(inputs) -> str:
    """'ids int32 [batch, 10], dense float32 [batch, 3]' of serving_inputs' triples."""
    return ", ".join(f"{name} {np.dtype(dtype).name} [{', '.join(map(str, shape))}]"
                     for name, dtype, shape in inputs)
