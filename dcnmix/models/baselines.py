"""The seed table's baselines (FM, FFM, PNN, DeepFM, NFM) and the DNN alone (the DCN-V2
paper's Table 6 'DNN' row). Each preset gives the seed table's parameter count on its data
(10 fields, 72 ids); the choices and alternatives: docs/baselines.md."""
from __future__ import annotations

from .entries import Entry, batch_norm, table, tower
from .spec import PLAIN, ModelSpec

TOWER = ("emb_num", "dropout", "hidden_nums", "batch_norm")


def _first_order(cfg) -> list[Entry]:
    return [Entry("bias", ("params", "bias"), (1,))] + table("linear", ("params", "linear"), cfg, 1)


def _table(cfg, width: int) -> list[Entry]:
    return table("embedding", ("params", "embedding"), cfg, width)


def _pairs(cfg) -> int:
    return cfg.fields * (cfg.fields - 1) // 2


def fm_layout(cfg) -> list[Entry]:
    return _first_order(cfg) + _table(cfg, cfg.emb_num)


def ffm_layout(cfg) -> list[Entry]:
    return _first_order(cfg) + _table(cfg, cfg.fields * cfg.emb_num)


def pnn_layout(cfg) -> list[Entry]:
    e, pairs = cfg.emb_num, _pairs(cfg)
    out = [] if cfg.product == "inner" else [
        Entry("outer_kernel", ("params", "outer_kernel"), (e, pairs, e))]
    width = cfg.fields * e + pairs * (2 if cfg.product == "both" else 1)
    return out + _table(cfg, e) + tower("tower", width, cfg.hidden_nums, cfg.batch_norm)


def deepfm_layout(cfg) -> list[Entry]:
    return (fm_layout(cfg)
            + tower("tower", cfg.fields * cfg.emb_num, cfg.hidden_nums, cfg.batch_norm))


def nfm_layout(cfg) -> list[Entry]:
    return (fm_layout(cfg) + batch_norm("bi_bn", ("bi_bn",), cfg.emb_num)
            + tower("tower", cfg.emb_num, cfg.hidden_nums, cfg.batch_norm))


def dnn_layout(cfg) -> list[Entry]:
    return (_table(cfg, cfg.emb_num)
            + tower("tower", cfg.input_num, cfg.hidden_nums, cfg.batch_norm))


def _baseline(name: str, order: int, summary: str, options, preset: dict, layout, cls: str,
              parity: dict | None = None, dense_concat: bool = False) -> ModelSpec:
    return ModelSpec(name=name, order=order, summary=summary, options=options, preset=preset,
                     layout=layout, jax=f"dcnmix_jax.baselines:{cls}",
                     torch=f"dcnmix_torch.baselines:{cls}", supports=PLAIN, parity=parity,
                     dense_concat=dense_concat)


SPECS = (
    _baseline("fm", 1, "factorization machine", ("emb_num",), {"emb_num": 4},   # 361
              fm_layout, "FM"),
    _baseline("ffm", 2, "field-aware factorization machine", ("emb_num",), {"emb_num": 4},
              ffm_layout, "FFM"),                                                # 2,953
    _baseline("pnn", 3, "product-based network (--product inner, outer or both)",
              TOWER + ("product",),
              {"emb_num": 32, "hidden_nums": (64, 64), "batch_norm": False},      # 29,953
              pnn_layout, "PNN", parity={"pnn": {}, "opnn": {"product": "outer"}}),
    _baseline("deepfm", 4, "DeepFM: FM + a DNN tower", TOWER,
              {"emb_num": 16, "hidden_nums": (64, 16)}, deepfm_layout, "DeepFM"),  # 12,746
    _baseline("nfm", 5, "neural FM: a DNN over bi-interaction pooling", TOWER,
              {"emb_num": 64, "hidden_nums": (64, 16)}, nfm_layout, "NFM"),        # 10,186
    _baseline("dnn", 6, "the DNN tower alone over the embeddings (DCN-V2's DNN row)", TOWER,
              {"emb_num": 16, "hidden_nums": (128, 64, 32)}, dnn_layout, "DNNModel",
              dense_concat=True),
)
