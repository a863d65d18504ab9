"""The PyTorch twin of the seed article's DCN-Mix code.

Classes, parameter names, initialisation and arithmetic mirror
shared/seeds/seed_dcn_mix_reference.py line for line, so a seed checkpoint loads with
strict=True and gives the same outputs. Additions, each off by default:
  * cross='full' selects DCN-V2's full-rank cross layer (FullCrossCell), which the seed
    compares against: x_{l+1} = x0 * (W x_l + b) + x_l, W [M, M], b [M, 1];
  * DCN.logits returns the pre-sigmoid output for a numerically stable loss.
This module stays readable and exact; speed work lives in dcnmix_jax.
"""
import torch
import torch.nn as nn

CROSS_TYPES = ("mix", "full")
METHODS = ("parallel", "stacked")


class Embedding(nn.Module):
    """ids [B, field_num] -> concatenated embeddings [B, field_num * emb_num]."""

    def __init__(self, feat_num, emb_num):
        super(Embedding, self).__init__()
        self.embedding = nn.Embedding(feat_num, emb_num)
        nn.init.xavier_normal_(self.embedding.weight.data)

    def forward(self, x):
        return self.embedding(x).flatten(1)


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
    """One low-rank expert: (U (V^T x_l) + b) * x0, U and V [M, r], b [M, 1]."""

    def __init__(self, input_num, r):
        super(CrossCell, self).__init__()
        self.v = nn.Parameter(torch.randn(input_num, r))
        self.u = nn.Parameter(torch.randn(input_num, r))
        self.b = nn.Parameter(torch.randn(input_num, 1))
        nn.init.xavier_normal_(self.v.data)
        nn.init.xavier_normal_(self.u.data)

    def forward(self, x0, xi):
        xi = xi.unsqueeze(2)  # [B, M, 1]
        x0 = x0.unsqueeze(2)
        return (torch.matmul(self.u, torch.matmul(self.v.t(), xi)) + self.b) * x0  # [B, M, 1]


class MOECrossCell(nn.Module):
    """x_{l+1} = sum_i softmax(gate(x_l))_i * CrossCell_i(x0, x_l) + x_l, K experts."""

    def __init__(self, input_num, r, k):
        super(MOECrossCell, self).__init__()
        self.k = k
        self.cross_cell = nn.ModuleList([CrossCell(input_num, r) for i in range(self.k)])
        self.gate = nn.Linear(input_num, self.k)
        nn.init.xavier_normal_(self.gate.weight.data)

    def forward(self, x0, xi):
        xii = xi.unsqueeze(2)
        export_out = torch.concat([self.cross_cell[i](x0, xi) for i in range(self.k)], dim=2)
        gate_out = self.gate(xi).softmax(dim=1).unsqueeze(dim=1)  # [B, 1, K]
        out = torch.sum(export_out * gate_out, dim=2, keepdim=True)  # [B, M, 1]
        out = out + xii
        return out.squeeze(2)


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
    """order_num cross layers applied to x0 [B, M]; cross='mix' (DCN-Mix) or 'full' (DCN-V2)."""

    def __init__(self, order_num, input_num, r, k, cross="mix"):
        super(CrossNet, self).__init__()
        if cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {cross!r} (expected one of {CROSS_TYPES})")
        self.order = order_num
        if cross == "mix":
            cells = [MOECrossCell(input_num, r, k) for i in range(order_num)]
        else:
            cells = [FullCrossCell(input_num) for i in range(order_num)]
        self.cell_list = nn.ModuleList(cells)

    def forward(self, x0):
        xi = x0
        for i in range(self.order):
            xi = self.cell_list[i](x0=x0, xi=xi)
        return xi


class DCN(nn.Module):
    """Embedding -> cross net and DNN ('parallel') or cross net then DNN ('stacked') -> Linear.

    forward(ids [B, field_num] int64) returns probabilities [B]; logits(ids) the values before
    the sigmoid.
    """

    def __init__(self, field_num, feat_dim, emb_num, order_num, r=16, k=4, dropout=0.1,
                 method='parallel', hidden_nums=(128, 64, 32), cross='mix'):
        super(DCN, self).__init__()
        input_num = field_num * emb_num
        self.embedding = Embedding(feat_num=feat_dim, emb_num=emb_num)
        self.dnn = DNN(input_num=input_num, hidden_nums=hidden_nums, dropout=dropout)
        self.cross_net = CrossNet(order_num=order_num, input_num=input_num, r=r, k=k, cross=cross)
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


def count_params(model: nn.Module) -> int:
    """Trainable parameters, as the seed's table counts them."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
