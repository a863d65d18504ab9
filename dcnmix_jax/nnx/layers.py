"""NNX building blocks, the twins of the linen ones (same parameters, initialisers and
arithmetic, through the same functions): TorchDense, TorchBatchNorm, Dropout, FieldEmbedding.

Each takes its input sizes at construction (NNX builds parameters eagerly) and `rngs`
(nnx.Rngs: 'params' for initialisation, 'dropout' for the masks; a plain nnx.Rngs(seed)
serves both). Dropout and BatchNorm follow model.train() / model.eval() through the
attributes NNX sets, `deterministic` and `use_running_average`; they start in eval mode.
"""
from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
from flax import nnx

from dcnmix.config import Inputs

from ..batchnorm import batch_moments, normalize, running_update
from ..dropout import dropout, keep_mask
from ..init import torch_linear_bias, xavier_normal
from ..inputs import embed, embeds_dense
from ..layers import dense


def param(init, rngs: nnx.Rngs, shape) -> nnx.Param:
    """A float32 parameter drawn by `init` (dcnmix_jax.init) with the next 'params' key."""
    return nnx.Param(init(rngs.params(), tuple(shape), jnp.float32))


def value(variable):
    """A variable's array (None stays None)."""
    return None if variable is None else variable[...]


class TorchDense(nnx.Module):
    """y = x @ kernel + bias: kernel [in, out] xavier normal, bias as torch's Linear."""

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 dtype: Any = None, kernel_init: Callable = xavier_normal, rngs: nnx.Rngs):
        self.kernel = param(kernel_init, rngs, (in_features, out_features))
        self.bias = param(torch_linear_bias(in_features), rngs, (out_features,)) if use_bias else None
        self.dtype = dtype

    def __call__(self, x):
        return dense(x, self.kernel[...], value(self.bias), self.dtype)


class TorchBatchNorm(nnx.Module):
    """torch.nn.BatchNorm1d on x [B, F] (dcnmix_jax.batchnorm): params scale, bias; batch
    statistics (nnx.BatchStat) mean, var (unbiased) and count (num_batches_tracked)."""

    def __init__(self, num_features: int, *, momentum: float = 0.1, epsilon: float = 1e-5,
                 dtype: Any = None, use_running_average: bool = True):
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.count = nnx.BatchStat(jnp.zeros((), jnp.int32))
        self.momentum, self.epsilon, self.dtype = momentum, epsilon, dtype
        self.use_running_average = use_running_average

    def __call__(self, x):
        if self.use_running_average:
            mean, var = self.mean[...], self.var[...]
        else:
            mean, var = batch_moments(x)
            self.mean[...], self.var[...] = running_update(
                self.mean[...], self.var[...], mean, var, x.shape[0], self.momentum)
            self.count[...] = self.count[...] + 1
        return normalize(x, mean, var, self.scale[...], self.bias[...], self.epsilon, self.dtype)


class Dropout(nnx.Module):
    """Inverted dropout with dcnmix_jax.dropout's counter-hash masks; the key is the next of
    its own 'dropout' stream (forked from `rngs`)."""

    def __init__(self, rate: float, *, deterministic: bool = True, rngs: nnx.Rngs):
        self.rate, self.deterministic = rate, deterministic
        self.rngs = rngs["dropout"].fork()

    def __call__(self, x):
        if self.deterministic or self.rate == 0:
            return x
        return dropout(x, lambda key, shape: keep_mask(key, shape, self.rate), self.rngs(), self.rate)


class FieldEmbedding(nnx.Module):
    """The input layer (dcnmix_jax.inputs): a batch -> field embeddings [B, F', features];
    parameters `embedding` [feat_dim, features] and, with embedded dense values, `dense`."""

    def __init__(self, field_num: int, feat_dim: int, features: int, *,
                 embedding_init: Callable = xavier_normal, inputs: Inputs = Inputs(),
                 rngs: nnx.Rngs):
        self.field_num, self.inputs = field_num, inputs
        self.embedding = param(embedding_init, rngs, (feat_dim, features))
        self.dense = (param(embedding_init, rngs, (inputs.dense_num, features))
                      if embeds_dense(inputs) else None)

    def __call__(self, batch):
        return embed(batch, self.embedding[...], value(self.dense), field_num=self.field_num,
                     inputs=self.inputs)
