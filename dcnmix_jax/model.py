"""The DCN model: embedding -> cross network and DNN tower -> one logit."""
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from .batchnorm import TorchBatchNorm
from .cross import CROSS_TYPES, CrossNet
from .init import xavier_normal
from .layers import TorchDense

from .config import METHODS


class DNN(nn.Module):
    """(Dense -> TorchBatchNorm -> ReLU -> Dropout) per hidden size: [B, M] -> [B, hidden[-1]]."""

    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, width in enumerate(self.hidden_nums):
            x = TorchDense(width, dtype=self.dtype, name=f"dense_{i}")(x)
            x = TorchBatchNorm(dtype=self.dtype, name=f"bn_{i}")(x, train=train)
            x = nn.relu(x)
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return x


class DCN(nn.Module):
    """DCN-Mix / DCN-V2 for categorical ids, the twin of dcnmix_torch.DCN.

    ids [B, field_num] (global ids in [0, feat_dim)) -> embeddings x0 [B, M], M = field_num *
    emb_num -> CrossNet(x0) [B, M]; 'parallel': concat(cross, DNN(x0)) -> Dense -> logit;
    'stacked': DNN(cross) -> Dense -> logit. __call__ returns probabilities [B], `logits` the
    values before the sigmoid (use them for the loss). gate ... init are the cross layer's
    variant options (dcnmix_jax.config.PRESETS; the defaults are the seed's).

        variables = model.init(key, ids)
        probs = model.apply(variables, ids)                                   # eval
        logits, updates = model.apply(variables, ids, train=True, method=DCN.logits,
                                      rngs={'dropout': key}, mutable=['batch_stats'])
    """

    field_num: int
    feat_dim: int
    emb_num: int
    order_num: int
    r: int = 16
    k: int = 4
    dropout: float = 0.1
    method: str = "parallel"
    hidden_nums: Sequence[int] = (128, 64, 32)
    cross: str = "mix"
    mixture: str = "gemm"
    dtype: Any = None
    gate: str = "softmax"
    gate_bias: bool = True
    shared_gates: bool = False
    expert_bias: bool = True
    activation: str = "none"
    c_matrix: bool = False
    init_scheme: str = "seed"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown combine type: {self.method!r} (expected one of {METHODS})")
        if self.cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {self.cross!r} (expected one of {CROSS_TYPES})")
        if not self.hidden_nums:
            raise ValueError("hidden_nums must name at least one hidden layer")
        super().__post_init__()

    def setup(self):
        self.embedding = nn.Embed(self.feat_dim, self.emb_num, embedding_init=xavier_normal,
                                  name="embedding")
        self.cross_net = CrossNet(self.order_num, self.r, self.k, self.cross, self.mixture,
                                  self.dtype, self.gate, self.gate_bias, self.shared_gates,
                                  self.expert_bias, self.activation, self.c_matrix, self.init_scheme)
        self.dnn = DNN(tuple(self.hidden_nums), self.dropout, self.dtype)
        self.linear = TorchDense(1, dtype=self.dtype)

    def logits(self, ids, train: bool = False):
        if ids.ndim != 2 or ids.shape[1] != self.field_num:
            raise ValueError(f"ids must have shape [batch, {self.field_num}], got {ids.shape}")
        return self.logits_from_embeddings(self.embedding(ids), train=train)

    def logits_from_embeddings(self, emb, train: bool = False):
        """Logits from looked-up embeddings emb [B, field_num, emb_num] (the embedding table is
        not touched: lets a trainer differentiate w.r.t. the rows of a batch only)."""
        x0 = emb.reshape(emb.shape[0], -1)
        if self.dtype is not None:
            x0 = x0.astype(self.dtype)
        cross_out = self.cross_net(x0)
        if self.method == "parallel":
            out = jnp.concatenate([cross_out, self.dnn(x0, train=train)], axis=1)
        else:
            out = self.dnn(cross_out, train=train)
        logits = self.linear(out)[:, 0]
        return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))

    def __call__(self, ids, train: bool = False):
        return jax.nn.sigmoid(self.logits(ids, train=train))


def count_params(params) -> int:
    """Number of parameters in a params pytree (batch statistics are not parameters)."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def checked_apply(model: DCN, variables, ids, **kwargs):
    """model.apply after validating ids on the host: JAX gathers never raise (out-of-range ids
    are clamped or NaN-filled, by version), so an id outside [0, feat_dim) raises here,
    naming the field (column), the row and the value."""
    import numpy as np
    from .data import check_ids
    check_ids(np.asarray(ids), model.feat_dim)
    return model.apply(variables, ids, **kwargs)
