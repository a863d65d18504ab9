"""The DCN-V2 paper's Table 6 models as Flax linen modules: DCN (v1), xDeepFM, AutoInt+ and
DLRM, the twins of dcnmix_torch.table6 (same parameter names, initialisers and arithmetic;
layouts in dcnmix.models.table6). Call convention as dcnmix_jax.baselines."""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from dcnmix.data.features import parts
from dcnmix.models.table6 import attention_widths, cin_widths

from .baselines import Tower, _Base
from .init import zeros
from .inputs import flatten
from .layers import TorchDense


class VectorCross(nn.Module):
    """One cross layer of DCN: parameters w (a bias-free TorchDense to 1) and b [M], zeros."""

    @nn.compact
    def __call__(self, x0, xl):
        w = TorchDense(1, use_bias=False, name="w")
        b = self.param("b", zeros, (x0.shape[-1],), jnp.float32)
        return x0 * w(xl) + b.astype(xl.dtype) + xl


class VectorCrossNet(nn.Module):
    """`layers` vector cross layers over x0 [B, M] (layers_0, ...)."""

    layers: int

    @nn.compact
    def __call__(self, x0):
        xl = x0
        for i in range(self.layers):
            xl = VectorCross(name=f"layers_{i}")(x0, xl)
        return xl


class DCNv1(_Base):
    """DCN (v1): order_num vector cross layers beside a DNN over x0, then one Linear."""

    emb_num: int = 16
    order_num: int = 3
    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    batch_norm: bool = True

    @nn.compact
    def logits(self, ids, train: bool = False):
        x0 = flatten(self.embed(ids, self.emb_num), ids, self.inputs)
        crossed = VectorCrossNet(self.order_num, name="cross_net")(x0)
        deep = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, output=False,
                     name="dnn")(x0, train)
        return TorchDense(1, name="linear")(jnp.concatenate([crossed, deep], axis=1))[:, 0]


class CIN(nn.Module):
    """xDeepFM's compressed interaction network over v [B, F, E] (dcnmix_torch.table6.CIN)."""

    cin_nums: Sequence[int]

    @nn.compact
    def __call__(self, v):
        layers = [TorchDense(width, name=f"layers_{i}")
                  for i, (_, width) in enumerate(cin_widths(v.shape[1], self.cin_nums))]
        return compress(v, layers, TorchDense(1, name="fc"))


def compress(v, layers, fc):
    """CIN over v [B, F, E] with its channel maps `layers` and output Linear `fc` (callables):
    X_k = layer_k(X_0 outer X_{k-1} over F x H_{k-1} channels), each sum-pooled over E."""
    xk, pooled = v, []
    for layer in layers:
        z = jnp.einsum("bhd,bmd->bhmd", v, xk)
        z = z.reshape(z.shape[0], -1, z.shape[-1])                         # [B, F H, E]
        xk = layer(z.transpose(0, 2, 1)).transpose(0, 2, 1)
        pooled.append(xk.sum(-1))
    return fc(jnp.concatenate(pooled, axis=1))[:, 0]


class XDeepFM(_Base):
    """xDeepFM: first order + CIN + a DNN tower over the embeddings."""

    emb_num: int = 16
    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    batch_norm: bool = True
    cin_nums: Sequence[int] = (16, 16, 16)

    @nn.compact
    def logits(self, ids, train: bool = False):
        v = self.embed(ids, self.emb_num)
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return (self.first_order(ids) + CIN(tuple(self.cin_nums), name="cin")(v)
                + tower(flatten(v), train))


def interact(q, k, v, residual, heads: int):
    """AutoInt's layer output: ReLU(multi-head self-attention over the fields, no scaling, +
    the residual); q, k, v, residual [B, F, A] -> [B, F, A]."""
    b, f, _ = q.shape
    split = lambda x: x.reshape(b, f, heads, -1).transpose(0, 2, 1, 3)        # [B, H, F, A/H]
    q, k, v = split(q), split(k), split(v)
    weights = jax.nn.softmax(jnp.matmul(q, k.transpose(0, 1, 3, 2)), axis=-1)
    out = jnp.matmul(weights, v).transpose(0, 2, 1, 3).reshape(b, f, -1)
    return nn.relu(out + residual)


class SelfAttention(nn.Module):
    """AutoInt's interacting layer (dcnmix_torch.table6.SelfAttention)."""

    attention_dim: int
    heads: int

    @nn.compact
    def __call__(self, x):
        proj = lambda name: TorchDense(self.attention_dim, use_bias=False, name=name)(x)
        residual = x if x.shape[-1] == self.attention_dim else proj("residual")
        return interact(proj("query"), proj("key"), proj("value"), residual, self.heads)


class AutoInt(_Base):
    """AutoInt+: order_num self-attention layers, a Linear over them, plus a DNN tower."""

    emb_num: int = 16
    order_num: int = 3
    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    batch_norm: bool = True
    attention_dim: int = 32
    heads: int = 2

    @nn.compact
    def logits(self, ids, train: bool = False):
        v = self.embed(ids, self.emb_num)
        x = v
        for i, _ in enumerate(attention_widths(self.emb_num, self.attention_dim, self.order_num)):
            x = SelfAttention(self.attention_dim, self.heads, name=f"attention_{i}")(x)
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return TorchDense(1, name="fc")(flatten(x))[:, 0] + tower(flatten(v), train)


def dot_interaction(v, dense=None, interaction: str = "dot"):
    """DLRM's interaction: the dot product of every pair i < j of the vectors v [B, n, E],
    then the dense values' vector when there is one: [B, n (n - 1) / 2 (+ E)]; 'cat': v
    flattened, [B, n E]."""
    if interaction == "cat":
        return flatten(v)
    i, j = np.triu_indices(v.shape[1], k=1)
    dots = jnp.matmul(v, v.transpose(0, 2, 1))[:, i, j]
    return dots if dense is None else jnp.concatenate([dots, dense], axis=1)


class DLRM(_Base):
    """DLRM: bottom MLP over the dense values, the dot interaction, the top MLP (tower)."""

    emb_num: int = 16
    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    batch_norm: bool = True
    bottom_nums: Sequence[int] = (64,)
    interaction: str = "dot"

    @nn.compact
    def logits(self, ids, train: bool = False):
        v, dense = self.embed(ids, self.emb_num), None
        if self.inputs.concatenated:
            bottom = Tower(tuple(self.bottom_nums) + (self.emb_num,), self.dropout,
                           self.batch_norm, output=False, name="bottom")
            dense = bottom(parts(ids)["dense"].astype(v.dtype), train)
            v = jnp.concatenate([v, dense[:, None]], axis=1)
        tower = Tower(tuple(self.hidden_nums), self.dropout, self.batch_norm, name="tower")
        return tower(dot_interaction(v, dense, self.interaction), train)
