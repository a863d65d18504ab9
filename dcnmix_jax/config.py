"""ModelConfig: the one description of a DCN that both frameworks and the checkpoints share.

Framework-free (no jax, no torch import), so the torch trainer and the checkpoint format
can use it too.
"""
from __future__ import annotations

import dataclasses
import json

CROSS_TYPES = ("mix", "full")
METHODS = ("parallel", "stacked")
GATES = ("softmax", "sigmoid", "constant")
ACTIVATIONS = ("none", "relu", "tanh", "hard_tanh")
INITS = ("seed", "deepctr", "torchrec")

# The variant options of the DCN-Mix cross layer (see ModelConfig) and their named presets.
# E_i(x_l) = x0 * (U_i g(C_i g(V_i^T x_l)) + b),  x_{l+1} = sum_i w_i(x_l) E_i(x_l) + x_l
VARIANT_FIELDS = ("gate", "gate_bias", "shared_gates", "expert_bias", "activation", "c_matrix",
                  "init_scheme")
PRESETS = {
    # the seed article: per-layer Linear(M, K) gate with bias, softmax, bias per expert, no g, no C
    "seed": dict(gate="softmax", gate_bias=True, shared_gates=False, expert_bias=True,
                 activation="none", c_matrix=False, init_scheme="seed"),
    # DCN-V2 paper, Eq. 3-4: one bias per layer, g and C; what it leaves free (the gate's
    # form, g, the initialisation) takes the seed's choices and relu
    "paper": dict(gate="softmax", gate_bias=True, shared_gates=False, expert_bias=False,
                  activation="relu", c_matrix=True, init_scheme="seed"),
    # DeepCTR-Torch / FuxiCTR CrossNetMix: K bias-free Linear(M, 1) gates shared by all layers
    "deepctr": dict(gate="softmax", gate_bias=False, shared_gates=True, expert_bias=False,
                    activation="tanh", c_matrix=True, init_scheme="deepctr"),
    # torchrec LowRankMixtureCrossNet: as DeepCTR with g = relu (and no gate when K = 1)
    "torchrec": dict(gate="softmax", gate_bias=False, shared_gates=True, expert_bias=False,
                     activation="relu", c_matrix=True, init_scheme="torchrec"),
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Constructor arguments of dcnmix_jax.DCN and dcnmix_torch.DCN, same names and defaults."""

    field_num: int
    feat_dim: int
    emb_num: int
    order_num: int
    r: int = 16
    k: int = 4
    dropout: float = 0.1
    method: str = "parallel"
    hidden_nums: tuple[int, ...] = (128, 64, 32)
    cross: str = "mix"
    # DCN-Mix variant options (cross='mix' only); the defaults are the seed's (PRESETS['seed'])
    gate: str = "softmax"          # expert weights w: softmax or sigmoid of a linear gate, or 1/K
    gate_bias: bool = True         # the gate's Linear has a bias
    shared_gates: bool = False     # one gate for all layers instead of one per layer
    expert_bias: bool = True       # a bias per expert (seed) or one per layer (paper)
    activation: str = "none"       # g, the nonlinearity in the rank-r space
    c_matrix: bool = False         # the r x r matrix C_i between two applications of g
    init_scheme: str = "seed"      # initialisation scheme: the seed's, DeepCTR-Torch's or torchrec's

    @classmethod
    def preset(cls, name: str, **fields) -> "ModelConfig":
        """A config with the variant options of PRESETS[name]; `fields` give the rest."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (expected one of {tuple(PRESETS)})")
        return cls(**{**PRESETS[name], **fields})

    def variant(self) -> dict:
        """The variant options, e.g. to pass to CrossNet."""
        return {f: getattr(self, f) for f in VARIANT_FIELDS}

    def preset_name(self) -> str | None:
        """The preset these variant options equal, if any."""
        return next((n for n, p in PRESETS.items() if p == self.variant()), None)

    def __post_init__(self):
        object.__setattr__(self, "hidden_nums", tuple(int(h) for h in self.hidden_nums))
        for name in ("field_num", "feat_dim", "emb_num", "order_num", "r", "k"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden_nums or min(self.hidden_nums) < 1:
            raise ValueError(f"hidden_nums must be positive sizes, got {self.hidden_nums}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.method not in METHODS:
            raise ValueError(f"unknown combine type: {self.method!r} (expected one of {METHODS})")
        if self.cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {self.cross!r} (expected one of {CROSS_TYPES})")
        check_variant(**self.variant())
        if self.cross == "full" and self.preset_name() != "seed":
            raise ValueError("the variant options apply to cross='mix' only (DCN-V2 has no experts)")

    @property
    def input_num(self) -> int:
        """M, the width of the concatenated embeddings and of every cross layer."""
        return self.field_num * self.emb_num

    def kwargs(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.kwargs(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls(**json.loads(text))


def check_variant(gate="softmax", gate_bias=True, shared_gates=False, expert_bias=True,
                  activation="none", c_matrix=False, init_scheme="seed") -> None:
    """ValueError naming the option for an unknown value (shared by both frameworks' layers)."""
    for name, value, allowed in (("gate", gate, GATES), ("activation", activation, ACTIVATIONS),
                                 ("init_scheme", init_scheme, INITS)):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r} (expected one of {allowed})")
    for name, value in (("gate_bias", gate_bias), ("shared_gates", shared_gates),
                        ("expert_bias", expert_bias), ("c_matrix", c_matrix)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
