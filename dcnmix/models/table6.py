"""The models the DCN-V2 paper's Table 6 compares DCN-Mix with, besides the seed table's and
the DNN / CrossNet rows: DCN (v1, the vector cross network), xDeepFM, AutoInt+ and DLRM.
Structure after FuxiCTR's model zoo (DCN, xDeepFM, AutoInt with its DNN, DLRM with the dot
interaction); initialisation the seed's, as every baseline's (docs/baselines.md)."""
from __future__ import annotations

from .baselines import TOWER, _first_order, _table
from .entries import Entry, dense, tower
from .spec import PLAIN, ModelSpec


def dcnv1_layout(cfg) -> list[Entry]:
    m, out = cfg.input_num, _table(cfg, cfg.emb_num)
    for layer in range(cfg.order_num):
        t, p = f"cross_net.layers.{layer}", ("params", "cross_net", f"layers_{layer}")
        out += [Entry(f"{t}.b", p + ("b",), (m,))] + dense(f"{t}.w", p + ("w",), m, 1, bias=False)
    out += tower("dnn", m, cfg.hidden_nums, cfg.batch_norm, output=False)
    return out + dense("linear", ("params", "linear"), m + cfg.hidden_nums[-1], 1)


def cin_widths(fields: int, cin_nums) -> list[tuple[int, int]]:
    """(in, out) of each CIN layer's channel map: F x F, then F x the previous layer's maps."""
    prev, out = fields, []
    for h in cin_nums:
        out.append((fields * prev, h))
        prev = h
    return out


def xdeepfm_layout(cfg) -> list[Entry]:
    out = _first_order(cfg) + _table(cfg, cfg.emb_num)
    for i, (a, b) in enumerate(cin_widths(cfg.fields, cfg.cin_nums)):
        out += dense(f"cin.layers.{i}", ("params", "cin", f"layers_{i}"), a, b)
    out += dense("cin.fc", ("params", "cin", "fc"), sum(cfg.cin_nums), 1)
    return out + tower("tower", cfg.fields * cfg.emb_num, cfg.hidden_nums, cfg.batch_norm)


def attention_widths(emb_num: int, attention_dim: int, layers: int) -> list[int]:
    """The input width of each self-attention layer: emb_num, then attention_dim."""
    return [emb_num] + [attention_dim] * (layers - 1)


def autoint_layout(cfg) -> list[Entry]:
    out, a = _table(cfg, cfg.emb_num), cfg.attention_dim
    for i, width in enumerate(attention_widths(cfg.emb_num, a, cfg.order_num)):
        for name in ("query", "key", "value") + (("residual",) if width != a else ()):
            out += dense(f"attention.{i}.{name}", ("params", f"attention_{i}", name), width, a,
                         bias=False)
    out += dense("fc", ("params", "fc"), cfg.fields * a, 1)
    return out + tower("tower", cfg.fields * cfg.emb_num, cfg.hidden_nums, cfg.batch_norm)


def dlrm_widths(fields: int, emb_num: int, dense_num: int, interaction: str = "dot"
                ) -> tuple[int, int]:
    """(vectors that interact, the top MLP's input width): the field embeddings and, with
    dense values (as they are), the bottom MLP's output; 'dot': the dot products of each
    pair, then that output; 'cat': the vectors concatenated."""
    n = fields + (1 if dense_num else 0)
    if interaction == "cat":
        return n, n * emb_num
    return n, n * (n - 1) // 2 + (emb_num if dense_num else 0)


def dlrm_layout(cfg) -> list[Entry]:
    out = _table(cfg, cfg.emb_num)
    if cfg.inputs.concatenated:
        out += tower("bottom", cfg.inputs.concatenated, cfg.bottom_nums + (cfg.emb_num,),
                     cfg.batch_norm, output=False)
    return out + tower("tower", dlrm_widths(cfg.fields, cfg.emb_num, cfg.inputs.concatenated,
                                       cfg.interaction)[1], cfg.hidden_nums, cfg.batch_norm)


def _model(name: str, order: int, summary: str, options, preset: dict, layout, cls: str,
           dense_concat: bool = False, parity: dict | None = None) -> ModelSpec:
    return ModelSpec(name=name, order=order, summary=summary, options=options, preset=preset,
                     layout=layout, jax=f"dcnmix_jax.table6:{cls}",
                     torch=f"dcnmix_torch.table6:{cls}", supports=PLAIN, dense_concat=dense_concat,
                     parity=parity)


SPECS = (
    _model("dcnv1", 8, "DCN (v1): the vector cross network x0 (x_l . w) + b + x_l beside a DNN",
           TOWER + ("order_num",), {"emb_num": 16, "order_num": 3}, dcnv1_layout, "DCNv1",
           dense_concat=True),
    _model("xdeepfm", 9, "xDeepFM: first order + CIN + a DNN tower", TOWER + ("cin_nums",),
           {"emb_num": 16}, xdeepfm_layout, "XDeepFM"),
    _model("autoint", 10, "AutoInt+: multi-head self-attention layers (residual) + a DNN tower",
           TOWER + ("order_num", "attention_dim", "heads"), {"emb_num": 16, "order_num": 3},
           autoint_layout, "AutoInt"),
    _model("dlrm", 11, "DLRM: bottom MLP over the dense values, dot interaction, top MLP",
           TOWER + ("bottom_nums", "interaction"), {"emb_num": 16}, dlrm_layout, "DLRM",
           dense_concat=True, parity={"dlrm": {}, "dlrm-cat": {"interaction": "cat"}}),
)
