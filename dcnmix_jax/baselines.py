"""The seed table's baselines as Flax linen modules: FM, FFM, PNN (inner product), DeepFM
and NFM, and the DNN alone (DNNModel), the twins of dcnmix_torch.baselines (same parameter names, initialisers and
arithmetic; their layouts are declared in dcnmix.models.baselines).

Same call convention as dcnmix_jax.DCN: `apply(variables, ids)` -> probabilities [B],
`method=...logits` for the values before the sigmoid, `train=True` with a 'dropout' rng and
mutable 'batch_stats' in training. Defaults are each model's `seed` preset (docs/baselines.md).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from dcnmix.config import PRODUCTS, Inputs

from .batchnorm import TorchBatchNorm
from .dropout import Dropout
from .init import xavier_uniform_3d, zeros
from .inputs import FieldEmbedding, flatten
from .layers import TorchDense


def fm_interaction(v):
    """0.5 * ((sum_f v_f)^2 - sum_f v_f^2): the FM pairwise term, [B, F, E] -> [B, E]."""
    return 0.5 * (jnp.square(v.sum(1)) - jnp.square(v).sum(1))


def _pairs(field_num: int):
    return np.triu_indices(field_num, k=1)


class Tower(nn.Module):
    """(Dense -> [TorchBatchNorm] -> ReLU -> Dropout) per hidden size, then Dense -> 1 (output
    off: the last hidden layer's values)."""

    hidden_nums: Sequence[int]
    dropout: float = 0.1
    batch_norm: bool = True
    output: bool = True

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, width in enumerate(self.hidden_nums):
            x = TorchDense(width, name=f"dense_{i}")(x)
            if self.batch_norm:
                x = TorchBatchNorm(name=f"bn_{i}")(x, train=train)
            x = Dropout(self.dropout, deterministic=not train)(nn.relu(x))
        return TorchDense(1, name="out")(x)[:, 0] if self.output else x


class _Base(nn.Module):
    """What every baseline has: field_num and feat_dim, the typed inputs (dcnmix.config.Inputs),
    the input layer, the first-order part and the probability head."""

    field_num: int
    feat_dim: int
    inputs: Inputs = Inputs()

    @property
    def fields(self) -> int:
        """Field embeddings the input layer yields (F')."""
        return self.inputs.fields(self.field_num)

    def embed(self, batch, width: int):
        """The input layer (dcnmix_jax.inputs): a batch -> [B, F', width]."""
        return FieldEmbedding(self.field_num, self.feat_dim, width, inputs=self.inputs,
                              name="embedding")(batch)

    def first_order(self, batch):
        """bias + the sum of each field's first-order weight (the input layer of width 1)."""
        w = FieldEmbedding(self.field_num, self.feat_dim, 1, embedding_init=zeros, inputs=self.inputs,
                           name="linear")(batch)
        return w.sum((1, 2)) + self.param("bias", zeros, (1,), jnp.float32)

    def __call__(self, ids, train: bool = False):
        return jax.nn.sigmoid(self.logits(ids, train=train))


class FM(_Base):
    """Factorization machine: logit = b + sum_i w_i + sum_{i<j} <v_i, v_j>."""

    emb_num: int = 4

    @nn.compact
    def logits(self, ids, train: bool = False):
        return self.first_order(ids) + fm_interaction(self.embed(ids, self.emb_num)).sum(1)


class FFM(_Base):
    """Field-aware FM: logit = b + sum_i w_i + sum_{i<j} <v_{x_i, field j}, v_{x_j, field i}>."""

    emb_num: int = 4

    @nn.compact
    def logits(self, ids, train: bool = False):
        v = self.embed(ids, self.fields * self.emb_num)
        v = v.reshape(v.shape[0], self.fields, self.fields, self.emb_num)
        i, j = _pairs(self.fields)
        return self.first_order(ids) + (v[:, i, j] * v[:, j, i]).sum((1, 2))


def outer_products(v, kernel, i, j):
    """OPNN's products with DeepCTR-Torch's 'mat' kernel [E, P, E], one per field pair
    p = (i[p], j[p]): sum_{k, k'} v_j[k] kernel[k, p, k'] v_i[k'], [B, F, E] -> [B, P]."""
    return jnp.einsum("bpk,kpl,bpl->bp", v[:, j], kernel, v[:, i])


class PNN(_Base):
    """Product-based network: the tower reads [embeddings, products of each field pair]:
    inner <v_i, v_j> (IPNN, the default), outer (OPNN, `outer_products`) or both."""

    emb_num: int = 32
    hidden_nums: Sequence[int] = (64, 64)
    dropout: float = 0.1
    batch_norm: bool = False
    product: str = "inner"

    @nn.compact
    def logits(self, ids, train: bool = False):
        if self.product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}, got {self.product!r}")
        v = self.embed(ids, self.emb_num)
        i, j = _pairs(self.fields)
        parts = [flatten(v)]
        if self.product in ("inner", "both"):
            parts.append((v[:, i] * v[:, j]).sum(-1))
        if self.product in ("outer", "both"):
            kernel = self.param("outer_kernel", xavier_uniform_3d,
                                (self.emb_num, len(i), self.emb_num), jnp.float32)
            parts.append(outer_products(v, kernel.astype(v.dtype), i, j))
        x = jnp.concatenate(parts, axis=1)
        return Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")(x, train)


class DeepFM(_Base):
    """DeepFM: FM (first order + pairwise) + a DNN tower over the concatenated embeddings."""

    emb_num: int = 16
    hidden_nums: Sequence[int] = (64, 16)
    dropout: float = 0.1
    batch_norm: bool = True

    @nn.compact
    def logits(self, ids, train: bool = False):
        v = self.embed(ids, self.emb_num)
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return (self.first_order(ids) + fm_interaction(v).sum(1)
                + tower(flatten(v), train))


class NFM(_Base):
    """Neural FM: first order + a DNN tower over BatchNorm(bi-interaction pooling)."""

    emb_num: int = 64
    hidden_nums: Sequence[int] = (64, 16)
    dropout: float = 0.1
    batch_norm: bool = True

    @nn.compact
    def logits(self, ids, train: bool = False):
        bi = TorchBatchNorm(name="bi_bn")(fm_interaction(self.embed(ids, self.emb_num)), train)
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return self.first_order(ids) + tower(bi, train)


class DNNModel(_Base):
    """The DNN tower alone over the concatenated embeddings (the DCN-V2 paper's 'DNN')."""

    emb_num: int = 16
    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    batch_norm: bool = True

    @nn.compact
    def logits(self, ids, train: bool = False):
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return tower(flatten(self.embed(ids, self.emb_num), ids, self.inputs), train)
