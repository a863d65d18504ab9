"""The seed table's baselines and the DNN alone as NNX modules, the twins of
dcnmix_jax.baselines (same argument names, defaults, parameters and arithmetic, plus `rngs`)."""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from flax import nnx

from dcnmix.config import PRODUCTS, Inputs

from ..baselines import _pairs, fm_interaction, outer_products
from ..init import xavier_uniform_3d, zeros
from ..inputs import flatten
from .layers import FieldEmbedding, TorchBatchNorm, TorchDense, param
from .model import DNN, _Model


class Tower(DNN):
    """(Dense -> [TorchBatchNorm] -> ReLU -> Dropout) per hidden size, then Dense -> 1 (`out`)."""

    def __init__(self, in_features: int, hidden_nums: Sequence[int], dropout: float = 0.1,
                 batch_norm: bool = True, *, rngs: nnx.Rngs):
        super().__init__(in_features, hidden_nums, dropout, batch_norm=batch_norm, rngs=rngs)
        self.out = TorchDense(hidden_nums[-1] if hidden_nums else in_features, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(super().__call__(x))[:, 0]


class _Base(_Model):
    """field_num, feat_dim and the typed inputs; the input layer, the first-order part."""

    def __init__(self, field_num: int, feat_dim: int, *, inputs: Inputs, rngs: nnx.Rngs,
                 first_order: bool = True):
        self.field_num, self.feat_dim, self.inputs = field_num, feat_dim, inputs
        self.fields = inputs.fields(field_num)
        if first_order:
            self.linear = FieldEmbedding(field_num, feat_dim, 1, embedding_init=zeros,
                                         inputs=inputs, rngs=rngs)
            self.bias = param(zeros, rngs, (1,))

    def embedding_layer(self, width: int, rngs: nnx.Rngs) -> FieldEmbedding:
        return FieldEmbedding(self.field_num, self.feat_dim, width, inputs=self.inputs, rngs=rngs)

    def first_order(self, batch):
        return self.linear(batch).sum((1, 2)) + self.bias[...]


class FM(_Base):
    """Factorization machine: logit = b + sum_i w_i + sum_{i<j} <v_i, v_j>."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 4, *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs)
        self.embedding = self.embedding_layer(emb_num, rngs)

    def logits(self, batch):
        return self.first_order(batch) + fm_interaction(self.embedding(batch)).sum(1)


class FFM(_Base):
    """Field-aware FM: logit = b + sum_i w_i + sum_{i<j} <v_{x_i, field j}, v_{x_j, field i}>."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 4, *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs)
        self.emb_num = emb_num
        self.embedding = self.embedding_layer(self.fields * emb_num, rngs)

    def logits(self, batch):
        v = self.embedding(batch)
        v = v.reshape(v.shape[0], self.fields, self.fields, self.emb_num)
        i, j = _pairs(self.fields)
        return self.first_order(batch) + (v[:, i, j] * v[:, j, i]).sum((1, 2))


class PNN(_Base):
    """Product-based network over [embeddings, inner and/or outer products of field pairs]."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 32,
                 hidden_nums: Sequence[int] = (64, 64), dropout: float = 0.1,
                 batch_norm: bool = False, product: str = "inner", *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}, got {product!r}")
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs, first_order=False)
        self.product = product
        pairs = len(_pairs(self.fields)[0])
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.outer_kernel = (param(xavier_uniform_3d, rngs, (emb_num, pairs, emb_num))
                             if product != "inner" else None)
        width = self.fields * emb_num + pairs * (2 if product == "both" else 1)
        self.tower = Tower(width, hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        v = self.embedding(batch)
        i, j = _pairs(self.fields)
        parts = [flatten(v)]
        if self.product in ("inner", "both"):
            parts.append((v[:, i] * v[:, j]).sum(-1))
        if self.product in ("outer", "both"):
            parts.append(outer_products(v, self.outer_kernel[...].astype(v.dtype), i, j))
        return self.tower(jnp.concatenate(parts, axis=1))


class DeepFM(_Base):
    """DeepFM: FM (first order + pairwise) + a DNN tower over the concatenated embeddings."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16,
                 hidden_nums: Sequence[int] = (64, 16), dropout: float = 0.1,
                 batch_norm: bool = True, *, inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs)
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        v = self.embedding(batch)
        return self.first_order(batch) + fm_interaction(v).sum(1) + self.tower(flatten(v))


class NFM(_Base):
    """Neural FM: first order + a DNN tower over BatchNorm(bi-interaction pooling)."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 64,
                 hidden_nums: Sequence[int] = (64, 16), dropout: float = 0.1,
                 batch_norm: bool = True, *, inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs)
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.bi_bn = TorchBatchNorm(emb_num)
        self.tower = Tower(emb_num, hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        bi = self.bi_bn(fm_interaction(self.embedding(batch)))
        return self.first_order(batch) + self.tower(bi)


class DNNModel(_Base):
    """The DNN tower alone over the concatenated embeddings (and dense values)."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16,
                 hidden_nums: Sequence[int] = (128, 64, 32), dropout: float = 0.1,
                 batch_norm: bool = True, *, inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs, first_order=False)
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.tower = Tower(self.fields * emb_num + inputs.concatenated, hidden_nums, dropout,
                           batch_norm, rngs=rngs)

    def logits(self, batch):
        return self.tower(flatten(self.embedding(batch), batch, self.inputs))
