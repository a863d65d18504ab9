"""The DCN-V2 paper's Table 6 models in PyTorch: DCN (v1), xDeepFM, AutoInt+ and DLRM.

Same call convention and initialisation as dcnmix_torch.baselines (embeddings and Linear
weights xavier normal, Linear biases torch's default); structure after FuxiCTR's model zoo.
The Flax twins are in dcnmix_jax.table6 with the same parameter names; the layouts in
dcnmix.models.table6.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from dcnmix.models.table6 import attention_widths, cin_widths, dlrm_widths

from .baselines import Tower, _Base, _linear
from .inputs import as_tensors


class VectorCross(nn.Module):
    """DCN's cross layer: x_{l+1} = x0 * (x_l . w) + b + x_l, w a Linear(M, 1) without bias
    (xavier normal), b [M] zeros."""

    def __init__(self, input_num):
        super().__init__()
        self.w = nn.Linear(input_num, 1, bias=False)
        nn.init.xavier_normal_(self.w.weight.data)
        self.b = nn.Parameter(torch.zeros(input_num))

    def forward(self, x0, xl):
        return x0 * self.w(xl) + self.b + xl


class VectorCrossNet(nn.Module):
    """order_num vector cross layers over x0 [B, M] (`layers`)."""

    def __init__(self, input_num, order_num):
        super().__init__()
        self.layers = nn.ModuleList(VectorCross(input_num) for _ in range(order_num))

    def forward(self, x0):
        xl = x0
        for layer in self.layers:
            xl = layer(x0, xl)
        return xl


class DCNv1(_Base):
    """DCN (Wang et al. 2017): order_num vector cross layers beside a DNN over x0, then one
    Linear over [cross output, DNN output].

    Example: DCNv1(field_num=10, feat_dim=72, emb_num=16, order_num=3)(ids) -> [B]."""

    def __init__(self, field_num, feat_dim, emb_num=16, order_num=3, hidden_nums=(128, 64, 32),
                 dropout=0.1, batch_norm=True, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, first_order=False, inputs=inputs)
        self.embedding = self.table(emb_num)
        m = self.fields * emb_num + self.inputs.concatenated
        self.cross_net = VectorCrossNet(m, order_num)
        self.dnn = Tower(m, hidden_nums, dropout, batch_norm, output=False)
        self.linear = _linear(m + hidden_nums[-1], 1)

    def logits(self, ids):
        x0 = self.embedding.x0(ids)
        return self.linear(torch.cat([self.cross_net(x0), self.dnn(x0)], dim=1))[:, 0]


class CIN(nn.Module):
    """xDeepFM's compressed interaction network over v [B, F, E]: X_k = W_k (X_0 outer X_{k-1})
    per embedding dimension (a Linear over the F x H_{k-1} channels, FuxiCTR's Conv1d of kernel
    1), each layer sum-pooled over E, then Linear(sum H_k, 1)."""

    def __init__(self, widths):
        super().__init__()
        self.layers = nn.ModuleList(_linear(a, b) for a, b in widths)
        self.fc = _linear(sum(b for _, b in widths), 1)

    def forward(self, v):
        xk, pooled = v, []
        for layer in self.layers:
            z = torch.einsum("bhd,bmd->bhmd", v, xk).flatten(1, 2)      # [B, F H, E]
            xk = layer(z.transpose(1, 2)).transpose(1, 2)                # [B, H', E]
            pooled.append(xk.sum(-1))
        return self.fc(torch.cat(pooled, dim=1))[:, 0]


class XDeepFM(_Base):
    """xDeepFM (Lian et al. 2018): first order + CIN + a DNN tower over the embeddings."""

    def __init__(self, field_num, feat_dim, emb_num=16, hidden_nums=(128, 64, 32), dropout=0.1,
                 batch_norm=True, cin_nums=(16, 16, 16), inputs=None):
        super().__init__(field_num, feat_dim, emb_num, inputs=inputs)
        self.embedding = self.table(emb_num)
        self.cin = CIN(cin_widths(self.fields, cin_nums))
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        v = self.embedding(ids)
        return self.first_order(ids) + self.cin(v) + self.tower(v.flatten(1))


class SelfAttention(nn.Module):
    """AutoInt's interacting layer: multi-head self-attention over the fields (no scaling, as
    FuxiCTR's default), plus the input (projected when widths differ), then ReLU."""

    def __init__(self, input_num, attention_dim, heads):
        super().__init__()
        self.heads = heads
        for name in ("query", "key", "value"):
            setattr(self, name, _bias_free(input_num, attention_dim))
        self.residual = _bias_free(input_num, attention_dim) if input_num != attention_dim else None

    def forward(self, x):
        b, f, _ = x.shape
        q, k, v = (getattr(self, n)(x).view(b, f, self.heads, -1).transpose(1, 2)
                   for n in ("query", "key", "value"))
        weights = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)   # [B, H, F, F]
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, f, -1)
        return torch.relu(out + (x if self.residual is None else self.residual(x)))


def _bias_free(input_num, output_num):
    layer = nn.Linear(input_num, output_num, bias=False)
    nn.init.xavier_normal_(layer.weight.data)
    return layer


class AutoInt(_Base):
    """AutoInt+ (Song et al. 2019): order_num self-attention layers over the field embeddings,
    a Linear over them, plus a DNN tower over the embeddings."""

    def __init__(self, field_num, feat_dim, emb_num=16, order_num=3, hidden_nums=(128, 64, 32),
                 dropout=0.1, batch_norm=True, attention_dim=32, heads=2, inputs=None):
        super().__init__(field_num, feat_dim, emb_num, first_order=False, inputs=inputs)
        self.embedding = self.table(emb_num)
        self.attention = nn.ModuleList(SelfAttention(w, attention_dim, heads) for w in
                                       attention_widths(emb_num, attention_dim, order_num))
        self.fc = _linear(self.fields * attention_dim, 1)
        self.tower = Tower(self.fields * emb_num, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        v = self.embedding(ids)
        x = v
        for layer in self.attention:
            x = layer(x)
        return self.fc(x.flatten(1))[:, 0] + self.tower(v.flatten(1))


class DLRM(_Base):
    """DLRM (Naumov et al. 2019): a bottom MLP maps the dense values to one more emb_num-wide
    vector; the dot products of every pair of vectors (and that vector) feed the top MLP
    (interaction 'cat': the vectors concatenated, FuxiCTR's other form)."""

    def __init__(self, field_num, feat_dim, emb_num=16, hidden_nums=(128, 64, 32), dropout=0.1,
                 batch_norm=True, bottom_nums=(64,), interaction="dot", inputs=None):
        super().__init__(field_num, feat_dim, emb_num, first_order=False, inputs=inputs)
        self.embedding = self.table(emb_num)
        dense_num = self.inputs.concatenated
        self.bottom = (Tower(dense_num, tuple(bottom_nums) + (emb_num,), dropout, batch_norm,
                             output=False) if dense_num else None)
        self.interaction = interaction
        n, top = dlrm_widths(self.fields, emb_num, dense_num, interaction)
        self.add_pairs(n)
        self.tower = Tower(top, hidden_nums, dropout, batch_norm)

    def logits(self, ids):
        v = self.embedding(ids)
        if self.bottom is not None:
            dense = self.bottom(as_tensors(ids, self.embedding.weight)["dense"])
            v = torch.cat([v, dense[:, None]], dim=1)
        if self.interaction == "cat":
            return self.tower(v.flatten(1))
        i, j = self.pairs
        dots = torch.matmul(v, v.transpose(1, 2))[:, i, j]
        parts = [dots] if self.bottom is None else [dots, dense]
        return self.tower(torch.cat(parts, dim=1))

