"""The seed table's baselines in PyTorch: FM, FFM, PNN (inner product), DeepFM and NFM, and
the DNN alone (DNNModel).

Same call convention as dcnmix_torch.DCN: ids [B, field_num] (global ids in [0, feat_dim))
-> probabilities [B]; `logits` gives the values before the sigmoid. The structure follows
FuxiCTR (a first-order part with its own bias, the DNN's output layer with a bias); the
initialisation follows the seed's code: embeddings and Linear weights xavier normal, Linear
biases torch's default, first-order weights and the global bias zero. The Flax twins are in
dcnmix_jax.baselines, with the same parameter names.

Defaults are each model's `seed` preset: the configuration that gives the seed table's
parameter count on its data (10 fields, 72 ids); see docs/baselines.md.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from dcnmix.config import PRODUCTS, Inputs

from .inputs import FieldEmbedding


def _linear(input_num: int, output_num: int) -> nn.Linear:
    layer = nn.Linear(input_num, output_num)
    nn.init.xavier_normal_(layer.weight.data)
    return layer


class Tower(nn.Module):
    """(Linear -> [BatchNorm1d] -> ReLU -> Dropout) per hidden size, then Linear -> 1 (output
    off: the last hidden layer's values)."""

    def __init__(self, input_num, hidden_nums, dropout=0.1, batch_norm=True, output=True):
        super().__init__()
        self.hidden_nums, self.batch_norm = tuple(hidden_nums), batch_norm
        for i, width in enumerate(self.hidden_nums):
            setattr(self, f"dense_{i}", _linear(input_num, width))
            if batch_norm:
                setattr(self, f"bn_{i}", nn.BatchNorm1d(width))
            input_num = width
        self.dropout = nn.Dropout(p=dropout)
        self.out = _linear(input_num, 1) if output else None

    def forward(self, x):
        for i in range(len(self.hidden_nums)):
            x = getattr(self, f"dense_{i}")(x)
            if self.batch_norm:
                x = getattr(self, f"bn_{i}")(x)
            x = self.dropout(torch.relu(x))
        return x if self.out is None else self.out(x)[:, 0]


class _Base(nn.Module):
    """Embedding table, first-order weights and bias, and the probability head; `inputs` (a
    dcnmix.config.Inputs) adds dense and multi-valued inputs (a typed batch dict)."""

    def __init__(self, field_num, feat_dim, emb_num, first_order=True, inputs=None):
        super().__init__()
        self.field_num, self.feat_dim, self.emb_num = field_num, feat_dim, emb_num
        self.inputs = inputs or Inputs()
        self.fields = self.inputs.fields(field_num)      # F': field embeddings per row
        if first_order:
            self.linear = FieldEmbedding(feat_dim, 1, init="zeros", inputs=self.inputs)
            self.bias = nn.Parameter(torch.zeros(1))

    def table(self, width):
        """The input layer of this model (dcnmix_torch.inputs), `width` wide."""
        return FieldEmbedding(self.feat_dim, width, inputs=self.inputs)

    def add_pairs(self, n=None) -> int:
        """The buffer `pairs` [2, P] of the pairs i < j of n vectors (default: the fields);
        returns P."""
        n = self.fields if n is None else n
        rows, cols = torch.triu_indices(n, n, offset=1)
        self.register_buffer("pairs", torch.stack([rows, cols]), persistent=False)
        return rows.numel()

    def first_order(self, ids):
        """bias + sum of the ids' first-order weights: [B]."""
        return self.linear(ids).sum((1, 2)) + self.bias

    def forward(self, ids):
        return torch.sigmoid(self.logits(ids))


def fm_interaction(v):
    """0.5 * ((sum_f v_f)^2 - sum_f v_f^2): the FM pairwise term, [B, F, E] -> [B, E]."""
    return 0.5 * (v.sum(1).square() - v.square().sum(1))


class FM(_Base):
    """Factorization machine: logit = b + sum_i w_i + sum_{i<j} <v_i, v_j>."""

    def __init__(self, field_num, feat_dim, emb_num=4, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, inputs=inputs)
        self.embedding = self.table(emb_num)

    def logits(self, ids):
        return self.first_order(ids) + fm_interaction(self.embedding(ids)).sum(1)


class FFM(_Base):
    """Field-aware FM: each id has a vector per field, logit = b + sum_i w_i +
    sum_{i<j} <v_{x_i, field j}, v_{x_j, field i}>; the table is [feat_dim, F' * emb_num]."""

    def __init__(self, field_num, feat_dim, emb_num=4, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, inputs=inputs)
        self.embedding = self.table(self.fields * emb_num)
        self.add_pairs()

    def logits(self, ids):
        v = self.embedding(ids)
        v = v.view(v.shape[0], self.fields, self.fields, self.emb_num)
        i, j = self.pairs
        return self.first_order(ids) + (v[:, i, j] * v[:, j, i]).sum((1, 2))


def outer_products(v, kernel, i, j):
    """OPNN's products with DeepCTR-Torch's 'mat' kernel [E, P, E], one per field pair
    p = (i[p], j[p]): sum_{k, k'} v_j[k] kernel[k, p, k'] v_i[k'], [B, F, E] -> [B, P]."""
    return torch.einsum("bpk,kpl,bpl->bp", v[:, j], kernel, v[:, i])


class PNN(_Base):
    """Product-based network: the tower reads [embeddings, products of each field pair]:
    inner <v_i, v_j> (IPNN, the default), outer (OPNN, `outer_products`) or both."""

    def __init__(self, field_num, feat_dim, emb_num=32, hidden_nums=(64, 64), dropout=0.1,
                 batch_norm=False, product="inner", inputs=None):
        super().__init__(field_num, feat_dim, emb_num, first_order=False, inputs=inputs)
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}, got {product!r}")
        self.product = product
        self.embedding = self.table(emb_num)
        pairs = self.add_pairs()
        if product != "inner":   # DeepCTR-Torch's OutterProductLayer, kernel_type='mat'
            self.outer_kernel = nn.Parameter(torch.empty(emb_num, pairs, emb_num))
            nn.init.xavier_uniform_(self.outer_kernel)
        products = pairs * (2 if product == "both" else 1)
        self.tower = Tower(self.fields * emb_num + products, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        v = self.embedding(ids)
        i, j = self.pairs
        parts = [v.flatten(1)]
        if self.product in ("inner", "both"):
            parts.append((v[:, i] * v[:, j]).sum(-1))
        if self.product in ("outer", "both"):
            parts.append(outer_products(v, self.outer_kernel, i, j))
        return self.tower(torch.cat(parts, dim=1))


class DeepFM(_Base):
    """DeepFM: FM (first order + pairwise) + a DNN tower over the concatenated embeddings."""

    def __init__(self, field_num, feat_dim, emb_num=16, hidden_nums=(64, 16), dropout=0.1,
                 batch_norm=True, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, inputs=inputs)
        self.embedding = self.table(emb_num)
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        v = self.embedding(ids)
        return self.first_order(ids) + fm_interaction(v).sum(1) + self.tower(v.flatten(1))


class NFM(_Base):
    """Neural FM: first order + a DNN tower over BatchNorm(bi-interaction pooling)."""

    def __init__(self, field_num, feat_dim, emb_num=64, hidden_nums=(64, 16), dropout=0.1,
                 batch_norm=True, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, inputs=inputs)
        self.embedding = self.table(emb_num)
        self.bi_bn = nn.BatchNorm1d(emb_num)
        self.tower = Tower(emb_num, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        return self.first_order(ids) + self.tower(self.bi_bn(fm_interaction(self.embedding(ids))))


class DNNModel(_Base):
    """The DNN tower alone over the concatenated embeddings (the DCN-V2 paper's 'DNN')."""

    def __init__(self, field_num, feat_dim, emb_num=16, hidden_nums=(128, 64, 32), dropout=0.1,
                 batch_norm=True, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, first_order=False, inputs=inputs)
        self.embedding = self.table(emb_num)
        self.tower = Tower(self.fields * emb_num + self.inputs.concatenated, hidden_nums,
                           dropout, batch_norm)

    def logits(self, ids):
        return self.tower(self.embedding.x0(ids))
