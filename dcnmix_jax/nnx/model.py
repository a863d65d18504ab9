"""DCN-Mix / DCN-V2 and the cross network alone as NNX modules, the twins of
dcnmix_jax.model.DCN and CrossNetModel (same argument names and defaults, plus `rngs`)."""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from dcnmix.config import CROSS_TYPES, METHODS, Inputs, Variant

from ..inputs import flatten
from .cross import CrossNet
from .layers import Dropout, FieldEmbedding, TorchBatchNorm, TorchDense


class DNN(nnx.Module):
    """(Dense -> TorchBatchNorm -> ReLU -> Dropout) per hidden size: [B, in] -> [B, hidden[-1]];
    layers dense_i, bn_i, dropout_i."""

    def __init__(self, in_features: int, hidden_nums: Sequence[int] = (128, 64, 32),
                 dropout: float = 0.1, *, dtype: Any = None, batch_norm: bool = True,
                 rngs: nnx.Rngs):
        self.depth, self.batch_norm = len(hidden_nums), batch_norm
        for i, width in enumerate(hidden_nums):
            setattr(self, f"dense_{i}", TorchDense(in_features, width, dtype=dtype, rngs=rngs))
            if batch_norm:
                setattr(self, f"bn_{i}", TorchBatchNorm(width, dtype=dtype))
            setattr(self, f"dropout_{i}", Dropout(dropout, rngs=rngs))
            in_features = width

    def __call__(self, x):
        for i in range(self.depth):
            x = getattr(self, f"dense_{i}")(x)
            if self.batch_norm:
                x = getattr(self, f"bn_{i}")(x)
            x = getattr(self, f"dropout_{i}")(jax.nn.relu(x))
        return x


class _Model(nnx.Module):
    """What every NNX model has: `logits(batch)` (subclasses) and `__call__(batch)` ->
    probabilities [B]. A batch is ids [B, field_num] or the typed dict of
    dcnmix.data.features. Eval mode until model.train()."""

    def __call__(self, batch):
        return jax.nn.sigmoid(self.logits(batch))

    @staticmethod
    def _float(logits):
        return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))


class CrossNetModel(_Model):
    """embeddings x0 -> CrossNet -> Dense -> logit (DCN-V2's 'CrossNet' row); the twin of
    dcnmix_jax.model.CrossNetModel."""

    def __init__(self, field_num: int, feat_dim: int, emb_num: int, order_num: int,
                 r: int = 16, k: int = 4, *, cross: str = "mix", variant: Variant = Variant(),
                 mixture: str = "gemm", dtype: Any = None, inputs: Inputs = Inputs(),
                 rngs: nnx.Rngs):
        self.inputs, self.dtype = inputs, dtype
        self.in_features = inputs.fields(field_num) * emb_num + inputs.concatenated
        self.embedding = FieldEmbedding(field_num, feat_dim, emb_num, inputs=inputs, rngs=rngs)
        self.cross_net = CrossNet(self.in_features, order_num, r=r, k=k, cross=cross,
                                  mixture=mixture, dtype=dtype, variant=variant, rngs=rngs)
        self.linear = TorchDense(self.head_features(), 1, dtype=dtype, rngs=rngs)

    def head_features(self) -> int:
        return self.in_features

    def combine(self, x0, crossed):
        return crossed

    def logits(self, batch):
        x0 = flatten(self.embedding(batch), batch, self.inputs, self.dtype)
        return self._float(self.linear(self.combine(x0, self.cross_net(x0)))[:, 0])


class DCN(CrossNetModel):
    """DCN-Mix / DCN-V2, the twin of dcnmix_jax.DCN and dcnmix_torch.DCN: ids [B, field_num]
    -> x0 [B, M] -> CrossNet; 'parallel': concat(cross, DNN(x0)) -> Dense -> logit;
    'stacked': DNN(cross) -> Dense -> logit.

        model = DCN(10, 72, 16, 2, rngs=nnx.Rngs(0))     # field_num, feat_dim, emb_num, order_num
        probs = model(ids)                               # eval mode: running BatchNorm stats
        model.train()                                    # dropout and batch statistics on
        loss = optax.sigmoid_binary_cross_entropy(model.logits(ids), labels).mean()
    """

    def __init__(self, field_num: int, feat_dim: int, emb_num: int, order_num: int,
                 r: int = 16, k: int = 4, dropout: float = 0.1, method: str = "parallel",
                 hidden_nums: Sequence[int] = (128, 64, 32), *, cross: str = "mix",
                 variant: Variant = Variant(), mixture: str = "gemm", dtype: Any = None,
                 inputs: Inputs = Inputs(), rngs: nnx.Rngs):
        if method not in METHODS:
            raise ValueError(f"unknown combine type: {method!r} (expected one of {METHODS})")
        if cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {cross!r} (expected one of {CROSS_TYPES})")
        if not hidden_nums:
            raise ValueError("hidden_nums must name at least one hidden layer")
        self.method, self.hidden_nums = method, tuple(hidden_nums)
        in_features = inputs.fields(field_num) * emb_num + inputs.concatenated
        self.dnn = DNN(in_features, self.hidden_nums, dropout, dtype=dtype, rngs=rngs)
        super().__init__(field_num, feat_dim, emb_num, order_num, r, k, cross=cross,
                         variant=variant, mixture=mixture, dtype=dtype, inputs=inputs, rngs=rngs)

    def head_features(self) -> int:
        return self.hidden_nums[-1] + (self.in_features if self.method == "parallel" else 0)

    def combine(self, x0, crossed):
        if self.method == "parallel":
            return jnp.concatenate([crossed, self.dnn(x0)], axis=1)
        return self.dnn(crossed)
