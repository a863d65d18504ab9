"""The input layer every model reads: ids [B, F] -> field embeddings [B, F, E] -> x0 [B, F*E].

New input types (dense values, multi-valued fields) land here, once, for every model.
"""
from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
from flax import linen as nn

from .init import xavier_normal


class FieldEmbedding(nn.Module):
    """One embedding table for all fields' global ids: `__call__(ids [B, field_num])` ->
    [B, field_num, features]. Its parameter is `embedding` [feat_dim, features] (the path
    nn.Embed has, and the twin's `embedding...weight`), xavier normal by default.

        emb = FieldEmbedding(field_num=10, feat_dim=72, features=16, name="embedding")(ids)
    """

    field_num: int
    feat_dim: int
    features: int
    embedding_init: Callable = xavier_normal

    @nn.compact
    def __call__(self, ids):
        if ids.ndim != 2 or ids.shape[1] != self.field_num:
            raise ValueError(f"ids must have shape [batch, {self.field_num}], got {ids.shape}")
        table = self.param("embedding", self.embedding_init, (self.feat_dim, self.features),
                           jnp.float32)
        return jnp.take(table, ids, axis=0)


def flatten(emb, dtype: Any = None):
    """x0 [B, F*E] of field embeddings [B, F, E], in the compute dtype when given."""
    x0 = emb.reshape(emb.shape[0], emb.shape[1] * emb.shape[2])
    return x0 if dtype is None else x0.astype(dtype)
