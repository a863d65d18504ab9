"""The input layer every twin model reads: a batch (dcnmix.data.features: ids [B, F], or a
typed dict with dense [B, D] and multi-valued ids [B, Fm, L]) -> field embeddings [B, F', E]
-> x0 [B, F'*E (+ D)].

F' = F single-id fields, then each multi-valued field pooled (mean or sum of its elements'
rows of the same table), then, with dense_embedding, each dense value times its own learned
vector (parameter `dense` [D, E]). The same arithmetic as dcnmix_jax.inputs.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from dcnmix.config import Inputs
from dcnmix.data.features import parts


def as_tensors(batch, like=None) -> dict:
    """{name: tensor} of a batch of numpy arrays or tensors: ids and multi int64, dense in the
    dtype of `like` (a parameter; float32 without)."""
    out = {}
    for name, value in parts(batch).items():
        value = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.array(value))
        out[name] = value.long() if name != "dense" else value.to(
            like.dtype if like is not None else torch.float32)
    return out


def to_torch(batch):
    """A batch for a twin model: bare ids as an int64 tensor, a typed dict as tensors."""
    if isinstance(batch, dict):
        return as_tensors(batch)
    if isinstance(batch, torch.Tensor):
        return batch.long()
    return torch.from_numpy(np.array(batch, dtype=np.int64))


def pool(weight, multi, pooling: str):
    """Pooled rows of `weight` for multi-valued ids [B, Fm, L] (-1 padding): [B, Fm, E]."""
    mask = (multi >= 0).unsqueeze(-1).to(weight.dtype)
    pooled = (nn.functional.embedding(multi.clamp(min=0), weight) * mask).sum(2)
    if pooling == "mean":
        pooled = pooled / mask.sum(2).clamp(min=1.0)
    return pooled


class FieldEmbedding(nn.Embedding):
    """nn.Embedding(feat_dim, emb_num) with the seed's xavier-normal initialisation
    (init='zeros': zeros, for first-order weights): `forward(batch)` -> [B, F', E];
    `x0(batch)` -> [B, F'*E (+ D)]. A subclass, so its state_dict key stays `...weight` and
    the seed's draws are unchanged; embedded dense values add `...dense` [D, E]."""

    def __init__(self, feat_dim, emb_num, init="xavier", inputs=None):
        super().__init__(feat_dim, emb_num)
        self.inputs = inputs or Inputs()
        (nn.init.xavier_normal_ if init == "xavier" else nn.init.zeros_)(self.weight.data)
        if self.inputs.dense_embedding and self.inputs.dense_num:
            self.dense = nn.Parameter(torch.empty(self.inputs.dense_num, emb_num))
            (nn.init.xavier_normal_ if init == "xavier" else nn.init.zeros_)(self.dense.data)

    def forward(self, batch):
        if not isinstance(batch, dict):
            return super().forward(batch)
        got = as_tensors(batch, self.weight)
        out = [super().forward(got["ids"])]
        if self.inputs.multi_num:
            out.append(pool(self.weight, got["multi"], self.inputs.pooling))
        if self.inputs.dense_embedding and self.inputs.dense_num:
            out.append(got["dense"].unsqueeze(2) * self.dense)
        return torch.cat(out, dim=1)

    def x0(self, batch):
        x0 = self(batch).flatten(1)
        if self.inputs.concatenated:
            x0 = torch.cat([x0, as_tensors(batch, self.weight)["dense"]], dim=1)
        return x0
