"""The DCN-V2 paper's Table 6 models as NNX modules (DCN v1, xDeepFM, AutoInt+, DLRM), the
twins of dcnmix_jax.table6: the same argument names, defaults, parameters and arithmetic
(through its functions), plus `rngs`."""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
from flax import nnx

from dcnmix.config import Inputs
from dcnmix.data.features import parts
from dcnmix.models.table6 import attention_widths, cin_widths, dlrm_widths

from ..init import zeros
from ..inputs import flatten
from ..table6 import compress, dot_interaction, interact
from .baselines import Tower, _Base
from .layers import TorchDense, param
from .model import DNN


class VectorCross(nnx.Module):
    """One cross layer of DCN: w (a bias-free TorchDense to 1), b [M] zeros."""

    def __init__(self, width: int, *, rngs: nnx.Rngs):
        self.w = TorchDense(width, 1, use_bias=False, rngs=rngs)
        self.b = param(zeros, rngs, (width,))

    def __call__(self, x0, xl):
        return x0 * self.w(xl) + self.b[...].astype(xl.dtype) + xl


class VectorCrossNet(nnx.Module):
    def __init__(self, width: int, layers: int, *, rngs: nnx.Rngs):
        self.depth = layers
        for i in range(layers):
            setattr(self, f"layers_{i}", VectorCross(width, rngs=rngs))

    def __call__(self, x0):
        xl = x0
        for i in range(self.depth):
            xl = getattr(self, f"layers_{i}")(x0, xl)
        return xl


class DCNv1(_Base):
    """DCN (v1): vector cross layers beside a DNN over x0, then one Linear."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16, order_num: int = 3,
                 hidden_nums: Sequence[int] = (128, 64, 32), dropout: float = 0.1,
                 batch_norm: bool = True, *, inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs, first_order=False)
        m = self.fields * emb_num + inputs.concatenated
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.cross_net = VectorCrossNet(m, order_num, rngs=rngs)
        self.dnn = DNN(m, hidden_nums, dropout, batch_norm=batch_norm, rngs=rngs)
        self.linear = TorchDense(m + hidden_nums[-1], 1, rngs=rngs)

    def logits(self, batch):
        x0 = flatten(self.embedding(batch), batch, self.inputs)
        return self.linear(jnp.concatenate([self.cross_net(x0), self.dnn(x0)], axis=1))[:, 0]


class CIN(nnx.Module):
    """xDeepFM's compressed interaction network (dcnmix_jax.table6.compress)."""

    def __init__(self, fields: int, cin_nums: Sequence[int], *, rngs: nnx.Rngs):
        widths = cin_widths(fields, cin_nums)
        self.depth = len(widths)
        for i, (a, b) in enumerate(widths):
            setattr(self, f"layers_{i}", TorchDense(a, b, rngs=rngs))
        self.fc = TorchDense(sum(cin_nums), 1, rngs=rngs)

    def __call__(self, v):
        return compress(v, [getattr(self, f"layers_{i}") for i in range(self.depth)], self.fc)


class XDeepFM(_Base):
    """xDeepFM: first order + CIN + a DNN tower over the embeddings."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16,
                 hidden_nums: Sequence[int] = (128, 64, 32), dropout: float = 0.1,
                 batch_norm: bool = True, cin_nums: Sequence[int] = (16, 16, 16), *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs)
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.cin = CIN(self.fields, cin_nums, rngs=rngs)
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        v = self.embedding(batch)
        return self.first_order(batch) + self.cin(v) + self.tower(flatten(v))


class SelfAttention(nnx.Module):
    """AutoInt's interacting layer (dcnmix_jax.table6.interact)."""

    def __init__(self, width: int, attention_dim: int, heads: int, *, rngs: nnx.Rngs):
        self.heads = heads
        for name in ("query", "key", "value"):
            setattr(self, name, TorchDense(width, attention_dim, use_bias=False, rngs=rngs))
        self.residual = (TorchDense(width, attention_dim, use_bias=False, rngs=rngs)
                         if width != attention_dim else None)

    def __call__(self, x):
        residual = x if self.residual is None else self.residual(x)
        return interact(self.query(x), self.key(x), self.value(x), residual, self.heads)


class AutoInt(_Base):
    """AutoInt+: self-attention layers, a Linear over them, plus a DNN tower."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16, order_num: int = 3,
                 hidden_nums: Sequence[int] = (128, 64, 32), dropout: float = 0.1,
                 batch_norm: bool = True, attention_dim: int = 32, heads: int = 2, *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs, first_order=False)
        self.embedding = self.embedding_layer(emb_num, rngs)
        self.depth = order_num
        for i, width in enumerate(attention_widths(emb_num, attention_dim, order_num)):
            setattr(self, f"attention_{i}", SelfAttention(width, attention_dim, heads, rngs=rngs))
        self.fc = TorchDense(self.fields * attention_dim, 1, rngs=rngs)
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        v = self.embedding(batch)
        x = v
        for i in range(self.depth):
            x = getattr(self, f"attention_{i}")(x)
        return self.fc(flatten(x))[:, 0] + self.tower(flatten(v))


class DLRM(_Base):
    """DLRM: bottom MLP over the dense values, the dot interaction, the top MLP (tower)."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int = 16,
                 hidden_nums: Sequence[int] = (128, 64, 32), dropout: float = 0.1,
                 batch_norm: bool = True, bottom_nums: Sequence[int] = (64,),
                 interaction: str = "dot", *,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        super().__init__(field_num, feat_dim, inputs=inputs, rngs=rngs, first_order=False)
        self.embedding = self.embedding_layer(emb_num, rngs)
        dense_num = inputs.concatenated
        self.bottom = (DNN(dense_num, tuple(bottom_nums) + (emb_num,), dropout,
                           batch_norm=batch_norm, rngs=rngs) if dense_num else None)
        self.interaction = interaction
        self.tower = Tower(dlrm_widths(self.fields, emb_num, dense_num, interaction)[1],
                           hidden_nums, dropout, batch_norm, rngs=rngs)

    def logits(self, batch):
        v, dense = self.embedding(batch), None
        if self.bottom is not None:
            dense = self.bottom(parts(batch)["dense"].astype(v.dtype))
            v = jnp.concatenate([v, dense[:, None]], axis=1)
        return self.tower(dot_interaction(v, dense, self.interaction))
