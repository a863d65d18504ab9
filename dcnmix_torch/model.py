"""The PyTorch twin of the seed article's DCN-Mix code.

Classes, parameter names, initialisation and arithmetic mirror
shared/seeds/seed_dcn_mix_reference.py line for line, so a seed checkpoint loads with
strict=True and gives the same outputs. Additions, each off by default:
  * cross='full' selects DCN-V2's full-rank cross layer (FullCrossCell), which the seed
    compares against: x_{l+1} = x0 * (W x_l + b) + x_l, W [M, M], b [M, 1];
  * DCN.logits returns the pre-sigmoid output for a numerically stable loss;
  * variant= (a dcnmix.config.Variant; presets in dcnmix.config.PRESETS): the paper's,
    DeepCTR-Torch's and torchrec's readings of the layer, E_i = x0 * (U_i g(C_i g(V_i^T x_l)) + b).
This module stays readable and exact; speed work lives in dcnmix_jax.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from dcnmix.config import CROSS_TYPES, METHODS, Inputs, Variant
from dcnmix.models import linear_weights, spec
from dcnmix.models.dcn import peer_init_stds

from .inputs import FieldEmbedding

ACTIVATIONS = {"none": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "hard_tanh": F.hardtanh}


class Embedding(nn.Module):
    """ids [B, field_num] -> concatenated embeddings [B, field_num * emb_num]; a typed batch
    (inputs=, dcnmix.config.Inputs) -> x0 [B, M] (dcnmix_torch.inputs)."""

    def __init__(self, feat_num, emb_num, inputs=None):
        super(Embedding, self).__init__()
        self.embedding = FieldEmbedding(feat_num, emb_num, inputs=inputs)   # nn.Embedding, xavier normal

    def forward(self, x):
        return self.embedding.x0(x)


class DNN(nn.Module):
    """(Linear -> BatchNorm1d -> ReLU -> Dropout) per hidden size."""

    def __init__(self, input_num, hidden_nums, dropout=0.1):
        super(DNN, self).__init__()
        layers = []
        for hidden_num in hidden_nums:
            layers.append(nn.Linear(input_num, hidden_num))
            layers.append(nn.BatchNorm1d(hidden_num))
            layers.append(nn.ReLU())
            layers.append(nn.Dropout(p=dropout))
            input_num = hidden_num
        self.mlp = nn.Sequential(*layers)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight.data)

    def forward(self, x):
        return self.mlp(x)


class CrossCell(nn.Module):
    """One low-rank expert: (U g(C g(V^T x_l)) + b) * x0, U and V [M, r], C [r, r], b [M, 1].
    The seed's expert by default (g the identity, no C); with expert_bias=False the layer's
    shared bias is passed in."""

    def __init__(self, input_num, r, *, expert_bias=True, activation="none", c_matrix=False):
        super(CrossCell, self).__init__()
        self.v = nn.Parameter(torch.randn(input_num, r))
        self.u = nn.Parameter(torch.randn(input_num, r))
        self.b = nn.Parameter(torch.randn(input_num, 1)) if expert_bias else None
        self.c = nn.Parameter(torch.randn(r, r)) if c_matrix else None
        self.g = ACTIVATIONS[activation]
        nn.init.xavier_normal_(self.v.data)
        nn.init.xavier_normal_(self.u.data)
        if c_matrix:
            nn.init.xavier_normal_(self.c.data)

    def forward(self, x0, xi, bias=None):
        xi = xi.unsqueeze(2)  # [B, M, 1]
        x0 = x0.unsqueeze(2)
        h = torch.matmul(self.v.t(), xi)  # [B, r, 1]
        if self.c is not None:
            h = torch.matmul(self.c, self.g(h))
        h = self.g(h)
        b = self.b if self.b is not None else bias
        return (torch.matmul(self.u, h) + b) * x0  # [B, M, 1]


def make_gate(input_num, k, *, variant):
    """The gate Linear(M, K): xavier-normal weight (seed) or torch's default (DeepCTR's and
    torchrec's K Linear(M, 1, bias=False) are its rows)."""
    gate = nn.Linear(input_num, k, bias=variant.gate_bias)
    if variant.init_scheme == "seed":
        nn.init.xavier_normal_(gate.weight.data)
    return gate


def expert_weights(logits, gate, k, like):
    """[B, K] weights of the experts: softmax or sigmoid of the gate logits, or 1/K."""
    if gate == "constant":
        return torch.full((like.shape[0], k), 1.0 / k, dtype=like.dtype, device=like.device)
    return logits.softmax(dim=1) if gate == "softmax" else torch.sigmoid(logits)


class MOECrossCell(nn.Module):
    """x_{l+1} = sum_i w_i(x_l) * CrossCell_i(x0, x_l) + x_l, K experts; w = softmax(gate(x_l))
    in the seed. gate_logits: the logits of a gate shared across layers (CrossNet's)."""

    def __init__(self, input_num, r, k, *, variant=None):
        super(MOECrossCell, self).__init__()
        v = variant or Variant()
        self.k = k
        self.gate_kind = v.gate
        self.cross_cell = nn.ModuleList([
            CrossCell(input_num, r, expert_bias=v.expert_bias, activation=v.activation,
                      c_matrix=v.c_matrix) for i in range(self.k)])
        if not v.expert_bias:
            self.bias = nn.Parameter(torch.randn(input_num, 1))
        if v.gate != "constant" and not v.shared_gates:
            self.gate = make_gate(input_num, self.k, variant=v)
        if v.init_scheme != "seed":
            _peer_init(self, v.init_scheme, input_num, r, k)

    def forward(self, x0, xi, gate_logits=None):
        xii = xi.unsqueeze(2)
        bias = getattr(self, "bias", None)
        export_out = torch.concat([self.cross_cell[i](x0, xi, bias) for i in range(self.k)], dim=2)
        if gate_logits is None and self.gate_kind != "constant":
            gate_logits = self.gate(xi)
        gate_out = expert_weights(gate_logits, self.gate_kind, self.k, xi).unsqueeze(dim=1)  # [B, 1, K]
        out = torch.sum(export_out * gate_out, dim=2, keepdim=True)  # [B, M, 1]
        out = out + xii
        return out.squeeze(2)


def _peer_init(cell, init_scheme, m, r, k):
    """DeepCTR-Torch's / torchrec's initialisation: xavier normal over the stacked [K, M, r]
    (torchrec: V stored [K, r, M]) and [K, r, r] tensors with torch's 3-D fans, zero biases."""
    stds = peer_init_stds(init_scheme, m, r, k)
    with torch.no_grad():
        for expert in cell.cross_cell:
            expert.u.normal_(0.0, stds["u"])
            expert.v.normal_(0.0, stds["v"])
            if expert.c is not None:
                expert.c.normal_(0.0, stds["c"])
            if expert.b is not None:
                expert.b.zero_()
        if getattr(cell, "bias", None) is not None:
            cell.bias.zero_()


class FullCrossCell(nn.Module):
    """DCN-V2's full-rank cross layer: x0 * (W x_l + b) + x_l, W [M, M], b [M, 1]."""

    def __init__(self, input_num):
        super(FullCrossCell, self).__init__()
        self.w = nn.Parameter(torch.randn(input_num, input_num))
        self.b = nn.Parameter(torch.randn(input_num, 1))
        nn.init.xavier_normal_(self.w.data)

    def forward(self, x0, xi):
        xl = xi.unsqueeze(2)  # [B, M, 1]
        out = x0.unsqueeze(2) * (torch.matmul(self.w, xl) + self.b) + xl
        return out.squeeze(2)


class CrossNet(nn.Module):
    """order_num cross layers applied to x0 [B, M]; cross='mix' (DCN-Mix) or 'full' (DCN-V2).
    The variant options (a dcnmix.config.Variant) go to every MOECrossCell; shared_gates puts
    one gate here."""

    def __init__(self, order_num, input_num, r, k, cross="mix", *, variant=None):
        super(CrossNet, self).__init__()
        if cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {cross!r} (expected one of {CROSS_TYPES})")
        v = variant or Variant()
        self.order = order_num
        if cross == "mix":
            cells = [MOECrossCell(input_num, r, k, variant=v) for i in range(order_num)]
        else:
            cells = [FullCrossCell(input_num) for i in range(order_num)]
        self.cell_list = nn.ModuleList(cells)
        self.gate = None
        if cross == "mix" and v.shared_gates and v.gate != "constant":
            self.gate = make_gate(input_num, k, variant=v)

    def forward(self, x0):
        xi = x0
        for i in range(self.order):
            if self.gate is None:
                xi = self.cell_list[i](x0=x0, xi=xi)
            else:
                xi = self.cell_list[i](x0=x0, xi=xi, gate_logits=self.gate(xi))
        return xi


class DCN(nn.Module):
    """Embedding -> cross net and DNN ('parallel') or cross net then DNN ('stacked') -> Linear.

    forward(ids [B, field_num] int64) returns probabilities [B]; logits(ids) the values before
    the sigmoid. The seed's arguments, then variant= (a dcnmix.config.Variant; the seed's
    layer by default) and inputs= (a dcnmix.config.Inputs: dense and multi-valued inputs,
    a typed batch dict; none by default).
    """

    def __init__(self, field_num, feat_dim, emb_num, order_num, r=16, k=4, dropout=0.1,
                 method='parallel', hidden_nums=(128, 64, 32), cross='mix', variant=None,
                 inputs=None):
        super(DCN, self).__init__()
        input_num = _input_num(field_num, emb_num, inputs)
        self.embedding = Embedding(feat_num=feat_dim, emb_num=emb_num, inputs=inputs)
        self.dnn = DNN(input_num=input_num, hidden_nums=hidden_nums, dropout=dropout)
        self.cross_net = CrossNet(order_num=order_num, input_num=input_num, r=r, k=k, cross=cross,
                                  variant=variant)
        if method not in METHODS:
            raise ValueError('unknown combine type: ' + method)
        self.method = method
        linear_dim = hidden_nums[-1]
        if self.method == 'parallel':
            linear_dim = linear_dim + input_num
        self.linear = nn.Linear(linear_dim, 1)
        nn.init.xavier_normal_(self.linear.weight.data)

    def logits(self, x):
        emb = self.embedding(x)
        cross_out = self.cross_net(emb)
        if self.method == 'parallel':
            dnn_out = self.dnn(emb)
            out = torch.concat([cross_out, dnn_out], dim=1)
        else:
            out = self.dnn(cross_out)
        return self.linear(out).squeeze(dim=1)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


def _input_num(field_num, emb_num, inputs=None):
    """M: field_num * emb_num (the seed's), or x0's width with typed inputs."""
    inputs = inputs or Inputs()
    return inputs.fields(field_num) * emb_num + inputs.concatenated


def count_params(model: nn.Module) -> int:
    """Trainable parameters, as the seed's table counts them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class CrossNetModel(nn.Module):
    """The cross network alone: Embedding -> CrossNet -> Linear -> logit (the DCN-V2 paper's
    'CrossNet' row); DCN's cross options, no DNN."""

    def __init__(self, field_num, feat_dim, emb_num, order_num, r=16, k=4, cross='mix',
                 variant=None, inputs=None):
        super(CrossNetModel, self).__init__()
        input_num = _input_num(field_num, emb_num, inputs)
        self.embedding = Embedding(feat_num=feat_dim, emb_num=emb_num, inputs=inputs)
        self.cross_net = CrossNet(order_num=order_num, input_num=input_num, r=r, k=k, cross=cross,
                                  variant=variant)
        self.linear = nn.Linear(input_num, 1)
        nn.init.xavier_normal_(self.linear.weight.data)

    def logits(self, x):
        return self.linear(self.cross_net(self.embedding(x))).squeeze(dim=1)

    def forward(self, x):
        return torch.sigmoid(self.logits(x))


def model_for(cfg, init: str = "seed") -> nn.Module:
    """The torch module of a dcnmix.config.ModelConfig: the class its model declares
    (dcnmix.models), built with **cfg.kwargs(); init 'he_normal' (TrainConfig.init) then
    draws every Linear weight anew with kaiming_normal_ (N(0, 2 / fan_in))."""
    model = spec(cfg.model).module("torch")(**cfg.kwargs())
    if init == "he_normal":
        for entry in linear_weights(cfg):
            nn.init.kaiming_normal_(model.get_parameter(entry.torch_key).data, nonlinearity="relu")
    return model
