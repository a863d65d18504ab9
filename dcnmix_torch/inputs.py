"""The input layer every twin model reads: ids [B, F] -> field embeddings [B, F, E] -> x0.

New input types (dense values, multi-valued fields) land here, once, for every model.
"""
from __future__ import annotations

import torch.nn as nn


class FieldEmbedding(nn.Embedding):
    """nn.Embedding(feat_dim, emb_num) with the seed's xavier-normal initialisation:
    `forward(ids [B, F])` -> [B, F, E]; `x0(ids)` -> the flattened [B, F * E]. A subclass, so
    its state_dict key stays `...weight` and the seed's draws are unchanged."""

    def __init__(self, feat_dim, emb_num):
        super().__init__(feat_dim, emb_num)
        nn.init.xavier_normal_(self.weight.data)

    def x0(self, ids):
        return self(ids).flatten(1)
