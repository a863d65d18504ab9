"""The twin's side of the training loop: eager torch, the seed's Adam."""
from __future__ import annotations

import io

import numpy as np
import torch

from .model import DCN, count_params
from .steps import make_optimizer, predict, train_step


class TorchBackend:
    """Model, optimiser and steps for dcnmix_torch.DCN (see dcnmix_jax.train, --framework torch)."""

    name = "torch"
    state_file = "state.pt"

    def __init__(self, cfg, *, lr: float, weight_decay: float, seed: int,
                 emb_weight_decay: float | None = None):
        self.cfg = cfg
        torch.manual_seed(seed)
        self.model = DCN(**cfg.kwargs())
        self.optimizer = make_optimizer(self.model, lr=lr, weight_decay=weight_decay,
                                        emb_weight_decay=emb_weight_decay)
        self.n_params = count_params(self.model)

    def train_chunks(self, dataset, order: list[np.ndarray]):
        """Train on the batches `order` (row indices) of `dataset`; yields (rows done, [loss])."""
        for b in order:
            yield len(b), [train_step(self.model, self.optimizer, dataset.ids[b], dataset.labels[b])]

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.model, ids)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.model.state_dict().items()}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()},
                                   strict=True)

    def state_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "rng": torch.get_rng_state()}, buf)
        return buf.getvalue()

    def restore_state(self, data: bytes) -> None:
        blob = torch.load(io.BytesIO(data), weights_only=True)
        self.model.load_state_dict(blob["model"], strict=True)
        self.optimizer.load_state_dict(blob["optimizer"])
        torch.set_rng_state(blob["rng"])
