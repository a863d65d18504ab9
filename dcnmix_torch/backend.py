"""The twin's side of the training loop (dcnmix.loop.Backend): eager torch, the seed's Adam."""
from __future__ import annotations

import io
import os

import numpy as np
import torch

from dcnmix.config import TrainConfig

from .model import count_params, model_for
from .serialization import safe_load
from .steps import make_optimizer, predict, train_step


class TorchBackend:
    """Model, optimiser and steps for dcnmix_torch.DCN or a baseline (cfg.model; see dcnmix.loop,
    --framework torch).

    tc.dtype float32 (default) or float64 (the model in double precision); tc.mixture does
    not apply (the twin computes the seed's expert order); lazy Adam is JAX's alone."""

    name = "torch"
    state_file = "state.pt"

    def __init__(self, cfg, tc: TrainConfig = TrainConfig()):
        if tc.embedding_optimizer != "dense":
            raise ValueError("--embedding-optimizer lazy is a JAX option; the twin uses torch's Adam")
        if tc.dtype not in ("float32", "float64"):
            raise ValueError(f"--dtype {tc.dtype} is a JAX option; the twin trains in float32 or float64")
        if os.environ.get("DCNMIX_THREADS"):
            torch.set_num_threads(int(os.environ["DCNMIX_THREADS"]))
        self.cfg = cfg
        torch.manual_seed(tc.seed)
        self.model = model_for(cfg)
        if tc.dtype == "float64":
            self.model = self.model.double()
        self.optimizer = make_optimizer(self.model, lr=tc.lr, weight_decay=tc.weight_decay,
                                        emb_weight_decay=tc.emb_weight_decay)
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
        blob = safe_load(io.BytesIO(data))
        self.model.load_state_dict(blob["model"], strict=True)
        self.optimizer.load_state_dict(blob["optimizer"])
        torch.set_rng_state(blob["rng"])
