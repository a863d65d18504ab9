"""ModelConfig: the one description of a DCN that both frameworks and the checkpoints share.

Framework-free (no jax, no torch import), so the torch trainer and the checkpoint format
can use it too.
"""
from __future__ import annotations

import dataclasses
import json

CROSS_TYPES = ("mix", "full")
METHODS = ("parallel", "stacked")


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
