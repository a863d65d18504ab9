"""The optimisers of dcnmix.optimizers in torch: torch.optim's own classes, by name.

    optimizer = make_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.9))

emb_weight_decay (if given) is the embedding table's own weight decay: a second parameter
group, as dcnmix_jax.optim masks it.
"""
from __future__ import annotations

import torch

from dcnmix.config import TrainConfig

# one builder per optimiser of dcnmix.optimizers: (parameter groups, TrainConfig) -> optimiser
BUILDERS = {
    "adam": lambda groups, tc: torch.optim.Adam(groups, lr=tc.lr, eps=1e-8),
    "adamw": lambda groups, tc: torch.optim.AdamW(groups, lr=tc.lr, eps=1e-8),
    "adagrad": lambda groups, tc: torch.optim.Adagrad(groups, lr=tc.lr, eps=1e-10),
    "sgd": lambda groups, tc: torch.optim.SGD(groups, lr=tc.lr, momentum=tc.momentum),
}


def parameter_groups(model, weight_decay: float, emb_weight_decay: float | None) -> list[dict]:
    """One group (weight_decay), or the embedding table's apart (emb_weight_decay) first."""
    if emb_weight_decay is None:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    emb = [p for n, p in model.named_parameters() if n.startswith("embedding.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    return [{"params": emb, "weight_decay": emb_weight_decay},
            {"params": rest, "weight_decay": weight_decay}]


def make_optimizer(model, tc: TrainConfig = TrainConfig()) -> torch.optim.Optimizer:
    """The torch.optim optimiser of tc.optimizer over the model's parameters."""
    return BUILDERS[tc.optimizer](parameter_groups(model, tc.weight_decay, tc.emb_weight_decay), tc)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
