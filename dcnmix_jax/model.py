"""The DCN model: embedding -> cross network and DNN tower -> one logit."""
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn

from dcnmix.config import CROSS_TYPES, METHODS, Inputs, Variant
from dcnmix.models import spec

from .batchnorm import TorchBatchNorm
from .cross import CrossNet
from .dropout import Dropout
from .inputs import FieldEmbedding, flatten
from .layers import TorchDense


class DNN(nn.Module):
    """(Dense -> TorchBatchNorm -> ReLU -> Dropout) per hidden size: [B, M] -> [B, hidden[-1]].
    Dropout masks come from a counter hash (dcnmix_jax.dropout), not one threefry draw per
    element."""

    hidden_nums: Sequence[int] = (128, 64, 32)
    dropout: float = 0.1
    dtype: Any = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, width in enumerate(self.hidden_nums):
            x = TorchDense(width, dtype=self.dtype, name=f"dense_{i}")(x)
            x = TorchBatchNorm(dtype=self.dtype, name=f"bn_{i}")(x, train=train)
            x = nn.relu(x)
            x = Dropout(self.dropout, deterministic=not train)(x)
        return x


class _CrossModel(nn.Module):
    """What DCN and CrossNetModel share: a batch (ids, or a typed dict: dcnmix.data.features)
    -> the input layer -> x0 -> the cross network, then `combine(x0, crossed, train)` (the
    subclass's) -> Dense -> one logit. Subclasses add the fields cross, variant, mixture and
    dtype after their own."""

    field_num: int
    feat_dim: int
    emb_num: int
    order_num: int
    r: int = 16
    k: int = 4
    inputs: Inputs = Inputs()

    def setup(self):
        self.embedding = FieldEmbedding(self.field_num, self.feat_dim, self.emb_num,
                                        inputs=self.inputs, name="embedding")
        self.cross_net = CrossNet(order_num=self.order_num, r=self.r, k=self.k, cross=self.cross,
                                  mixture=self.mixture, dtype=self.dtype, variant=self.variant)
        self.linear = TorchDense(1, dtype=self.dtype)

    def logits(self, ids, train: bool = False):
        return self.logits_from_embeddings(self.embedding(ids), train=train, batch=ids)

    def logits_from_embeddings(self, emb, train: bool = False, batch=None):
        """Logits from looked-up embeddings emb [B, field_num, emb_num] (the embedding table is
        not touched: lets a trainer differentiate w.r.t. the rows of a batch only); `batch`
        gives the dense values x0 concatenates."""
        x0 = flatten(emb, batch, self.inputs, self.dtype)
        logits = self.linear(self.combine(x0, self.cross_net(x0), train))[:, 0]
        return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))

    def __call__(self, ids, train: bool = False):
        return jax.nn.sigmoid(self.logits(ids, train=train))


class DCN(_CrossModel):
    """DCN-Mix / DCN-V2 for categorical ids, the twin of dcnmix_torch.DCN.

    ids [B, field_num] (global ids in [0, feat_dim)) -> embeddings x0 [B, M], M = field_num *
    emb_num -> CrossNet(x0) [B, M]; 'parallel': concat(cross, DNN(x0)) -> Dense -> logit;
    'stacked': DNN(cross) -> Dense -> logit. __call__ returns probabilities [B], `logits` the
    values before the sigmoid (use them for the loss). `variant` holds the cross layer's
    variant options (dcnmix.config.Variant; the default is the seed's layer), `mixture` its
    arithmetic form and `dtype` the compute dtype (parameters stay float32).

        variables = model.init(key, ids)
        probs = model.apply(variables, ids)                                   # eval
        logits, updates = model.apply(variables, ids, train=True, method=DCN.logits,
                                      rngs={'dropout': key}, mutable=['batch_stats'])
    """

    dropout: float = 0.1
    method: str = "parallel"
    hidden_nums: Sequence[int] = (128, 64, 32)
    cross: str = "mix"
    variant: Variant = Variant()
    mixture: str = "gemm"
    dtype: Any = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown combine type: {self.method!r} (expected one of {METHODS})")
        if self.cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {self.cross!r} (expected one of {CROSS_TYPES})")
        if not self.hidden_nums:
            raise ValueError("hidden_nums must name at least one hidden layer")
        super().__post_init__()

    def setup(self):
        super().setup()
        self.dnn = DNN(hidden_nums=tuple(self.hidden_nums), dropout=self.dropout, dtype=self.dtype)

    def combine(self, x0, crossed, train: bool):
        if self.method == "parallel":
            return jnp.concatenate([crossed, self.dnn(x0, train=train)], axis=1)
        return self.dnn(crossed, train=train)


class CrossNetModel(_CrossModel):
    """The cross network alone: embeddings x0 -> CrossNet -> Dense -> logit (the DCN-V2
    paper's 'CrossNet' row), with DCN's cross options and compute options; the twin of
    dcnmix_torch.model.CrossNetModel."""

    cross: str = "mix"
    variant: Variant = Variant()
    mixture: str = "gemm"
    dtype: Any = None

    def combine(self, x0, crossed, train: bool):
        return crossed


def count_params(params) -> int:
    """Number of parameters in a params pytree (batch statistics are not parameters)."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def checked_apply(model: DCN, variables, ids, **kwargs):
    """model.apply after validating ids on the host: JAX gathers never raise (out-of-range ids
    are clamped or NaN-filled, by version), so an id outside [0, feat_dim) raises here,
    naming the field (column), the row and the value."""
    import numpy as np
    from dcnmix.data import check_ids
    check_ids(np.asarray(ids), model.feat_dim)
    return model.apply(variables, ids, **kwargs)


def model_for(cfg, *, mixture: str = "gemm", dtype=None) -> nn.Module:
    """The Flax module of a dcnmix.config.ModelConfig: the class its model declares
    (dcnmix.models), built with **cfg.kwargs() and, for a model with compute options (DCN,
    CrossNetModel), mixture= and dtype=. Options a model does not train with are refused by
    dcnmix.backends.check_supported before this."""
    declared = spec(cfg.model)
    extra = {k: v for k, v in (("mixture", mixture), ("dtype", dtype)) if k in declared.jax_options}
    return declared.module("jax")(**cfg.kwargs(), **extra)
