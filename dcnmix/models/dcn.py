"""DCN-Mix / DCN-V2 (the seed's model) and its cross network alone (the DCN-V2 paper's
'CrossNet' row of Table 6)."""
from __future__ import annotations

from .entries import DNN_STRIDE, Entry, batch_norm, dense, table
from .spec import ModelSpec

CROSS_OPTIONS = ("emb_num", "order_num", "r", "k", "cross", "variant")


def peer_init_stds(init_scheme: str, m: int, r: int, k: int) -> dict[str, float]:
    """The normal std-devs of u, v [K, M, r] and c [K, r, r] under DeepCTR-Torch's and
    torchrec's initialisation (init_scheme 'deepctr' / 'torchrec'): xavier normal over the
    stacked tensors with torch's 3-D fans (fan_in = M r, fan_out = K r); torchrec stores V
    as [K, r, M], so its fans are (r M, K M). Both frameworks initialise from these."""
    v_fans = (m * r, k * r) if init_scheme == "deepctr" else (r * m, k * m)
    return {"u": (2.0 / (m * r + k * r)) ** 0.5, "v": (2.0 / sum(v_fans)) ** 0.5,
            "c": (2.0 / (r * r + k * r)) ** 0.5}


def cross_layout(cfg, torch_prefix: str = "cross_net.",
                 path: tuple[str, ...] = ("params", "cross_net")) -> list[Entry]:
    """The cross network's tensors: under DCN (default) or, with torch_prefix '' and path
    ('params',), a standalone dcnmix_torch.CrossNet / dcnmix_jax.CrossNet of width cfg.input_num."""
    m, out = cfg.input_num, []
    for layer in range(cfg.order_num):
        t, p = f"{torch_prefix}cell_list.{layer}", path + (f"layers_{layer}",)
        if cfg.cross == "full":
            out += [Entry(f"{t}.w", p + ("kernel",), (m, m), "transpose"),
                    Entry(f"{t}.b", p + ("bias",), (m, 1), "column")]
            continue
        out += _mix_layer(cfg, t, p)
    if cfg.cross == "mix" and cfg.variant.gate != "constant" and cfg.variant.shared_gates:
        out += dense(f"{torch_prefix}gate", path + ("gate",), m, cfg.k, cfg.variant.gate_bias)
    return out


def _mix_layer(cfg, t: str, p: tuple[str, ...]) -> list[Entry]:
    """One DCN-Mix layer: its K experts (stacked into one Flax leaf each), bias and gate."""
    m, v, out = cfg.input_num, cfg.variant, []
    if not v.expert_bias:
        out.append(Entry(f"{t}.bias", p + ("bias",), (m, 1), "column"))
    for e in range(cfg.k):
        c = f"{t}.cross_cell.{e}"
        out += [Entry(f"{c}.v", p + ("v",), (m, cfg.r), expert=e),
                Entry(f"{c}.u", p + ("u",), (m, cfg.r), expert=e)]
        if v.expert_bias:
            out.append(Entry(f"{c}.b", p + ("b",), (m, 1), "column", expert=e))
        if v.c_matrix:
            out.append(Entry(f"{c}.c", p + ("c",), (cfg.r, cfg.r), expert=e))
    if v.gate != "constant" and not v.shared_gates:
        out += dense(f"{t}.gate", p + ("gate",), m, cfg.k, v.gate_bias)
    return out


def _table(cfg) -> list[Entry]:
    return table("embedding.embedding", ("params", "embedding"), cfg, cfg.emb_num)


def dcn_layout(cfg) -> list[Entry]:
    m, out, width = cfg.input_num, _table(cfg), cfg.input_num
    for i, h in enumerate(cfg.hidden_nums):
        out += dense(f"dnn.mlp.{DNN_STRIDE * i}", ("params", "dnn", f"dense_{i}"), width, h)
        out += batch_norm(f"dnn.mlp.{DNN_STRIDE * i + 1}", ("dnn", f"bn_{i}"), h)
        width = h
    out += cross_layout(cfg)
    linear_in = cfg.hidden_nums[-1] + (m if cfg.method == "parallel" else 0)
    return out + dense("linear", ("params", "linear"), linear_in, 1)


def crossnet_layout(cfg) -> list[Entry]:
    return _table(cfg) + cross_layout(cfg) + dense("linear", ("params", "linear"), cfg.input_num, 1)


SPECS = (
    ModelSpec(name="dcn", order=0, dense_concat=True,
              summary="DCN-Mix (--cross mix) or DCN-V2 (--cross full): the seed's model",
              options=("emb_num", "order_num", "r", "k", "dropout", "method", "hidden_nums",
                       "cross", "variant"),
              defaults={"emb_num": 16, "order_num": 2}, layout=dcn_layout,
              jax="dcnmix_jax.model:DCN", torch="dcnmix_torch.model:DCN",
              jax_options=("mixture", "dtype"),
              parity={}),       # parity's own grid and variants (parity.checks)
    ModelSpec(name="crossnet", order=7, dense_concat=True,
              summary="the cross network alone (mix or full) and one Linear: DCN-V2's CrossNet",
              options=CROSS_OPTIONS, defaults={"emb_num": 16, "order_num": 2},
              layout=crossnet_layout,
              jax="dcnmix_jax.model:CrossNetModel", torch="dcnmix_torch.model:CrossNetModel",
              jax_options=("mixture", "dtype"),
              parity={"crossnet": {"order_num": 2}, "crossnet-full": {"order_num": 2, "cross": "full"}}),
)
