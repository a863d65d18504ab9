"""The input layer every model reads: a batch (dcnmix.data.features: ids [B, F], or a typed
dict with dense [B, D] and multi-valued ids [B, Fm, L]) -> field embeddings [B, F', E]
-> x0 [B, F'*E (+ D)].

    emb = FieldEmbedding(field_num=10, feat_dim=72, features=16, name="embedding")(ids)
    x0 = flatten(emb, batch, inputs)          # [embeddings; dense values] as in DCN-V2

F' = F single-id fields, then each multi-valued field pooled (mean or sum of its elements'
rows of the same table), then, with dense_embedding, each dense value times its own learned
vector (parameter `dense` [D, E]).
"""
from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
from flax import linen as nn

from dcnmix.config import Inputs
from dcnmix.data.features import parts

from .init import xavier_normal


def pool(table, multi, pooling: str):
    """Pooled rows of `table` for multi-valued ids [B, Fm, L] (-1 padding): [B, Fm, E]."""
    mask = (multi >= 0)[..., None].astype(table.dtype)
    pooled = (jnp.take(table, jnp.maximum(multi, 0), axis=0) * mask).sum(2)
    if pooling == "mean":
        pooled = pooled / jnp.maximum(mask.sum(2), 1.0)
    return pooled


class FieldEmbedding(nn.Module):
    """One embedding table for all fields' global ids: `__call__(batch)` -> [B, F', features].
    Its parameter is `embedding` [feat_dim, features] (the path nn.Embed has, and the twin's
    `embedding...weight`), xavier normal by default; with embedded dense values also `dense`
    [dense_num, features]."""

    field_num: int
    feat_dim: int
    features: int
    embedding_init: Callable = xavier_normal
    inputs: Inputs = Inputs()

    @nn.compact
    def __call__(self, batch):
        table = self.param("embedding", self.embedding_init, (self.feat_dim, self.features),
                           jnp.float32)
        vectors = None
        if embeds_dense(self.inputs):
            vectors = self.param("dense", self.embedding_init,
                                 (self.inputs.dense_num, self.features), jnp.float32)
        return embed(batch, table, vectors, field_num=self.field_num, inputs=self.inputs)


def embeds_dense(inputs: Inputs) -> bool:
    """Whether the input layer has the dense values' vectors (parameter `dense`)."""
    return bool(inputs.dense_embedding and inputs.dense_num)


def embed(batch, table, vectors=None, *, field_num: int, inputs: Inputs = Inputs()):
    """Field embeddings [B, F', E] of a batch: the ids' rows of `table`, the multi-valued
    fields' pooled rows, the dense values times their `vectors` (when embedded)."""
    got = parts(batch)
    ids = got["ids"]
    if ids.ndim != 2 or ids.shape[1] != field_num:
        raise ValueError(f"ids must have shape [batch, {field_num}], got {ids.shape}")
    out = [jnp.take(table, ids, axis=0)]
    if inputs.multi_num:
        out.append(pool(table, got["multi"], inputs.pooling))
    if vectors is not None:
        out.append(got["dense"][:, :, None].astype(vectors.dtype) * vectors)
    return out[0] if len(out) == 1 else jnp.concatenate(out, axis=1)


def flatten(emb, batch=None, inputs: Inputs = Inputs(), dtype: Any = None):
    """x0 [B, F'*E (+ D)] of field embeddings [B, F', E] and, unless embedded, the batch's
    dense values; in the compute dtype when given."""
    x0 = emb.reshape(emb.shape[0], emb.shape[1] * emb.shape[2])
    if inputs.concatenated:
        x0 = jnp.concatenate([x0, parts(batch)["dense"].astype(x0.dtype)], axis=1)
    return x0 if dtype is None else x0.astype(dtype)
