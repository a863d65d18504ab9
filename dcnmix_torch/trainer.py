"""The twin's trainer (dcnmix.backends.Trainer, made by dcnmix_torch.backend): eager torch,
the optimisers of dcnmix.optimizers as torch.optim's own."""
from __future__ import annotations

import io

import numpy as np
import torch

from dcnmix.config import TrainConfig

from .model import count_params, model_for
from .serialization import safe_load
from .optim import make_optimizer, set_learning_rate
from .steps import averaged, predict, train_step


class TorchTrainer:
    """Model, optimiser and steps for any model of dcnmix.models (cfg.model; see dcnmix.loop,
    --framework torch).

    tc.dtype float32 (default) or float64 (the model in double precision); tc.mixture does
    not apply (the twin computes the seed's expert order); the lazy embedding optimisers are
    JAX's alone (dcnmix_torch.backend declares what the twin supports)."""

    name = "torch"
    state_file = "state.pt"

    def __init__(self, cfg, tc: TrainConfig = TrainConfig()):
        self.cfg = cfg
        torch.manual_seed(tc.seed)
        self.model = model_for(cfg, init=tc.init)
        if tc.dtype == "float64":
            self.model = self.model.double()
        self.optimizer = make_optimizer(self.model, tc)
        self.clip_norm = tc.clip_norm
        self.n_params = count_params(self.model)
        # --ema: the averaged copy is what is evaluated and saved
        self.ema = averaged(self.model, tc.ema) if tc.ema is not None else None

    @property
    def evaluated(self):
        """The module evaluated and saved: the model, or with --ema its moving average."""
        return self.model if self.ema is None else self.ema.module

    def train_chunks(self, dataset, order: list[np.ndarray]):
        """Train on the batches `order` (row indices) of `dataset`; yields (rows done, [loss])."""
        from dcnmix.data.features import take
        inputs = dataset.inputs
        for b in order:
            loss = train_step(self.model, self.optimizer, take(inputs, b), dataset.labels[b],
                              clip_norm=self.clip_norm)
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            yield len(b), [loss]

    def notes(self) -> dict:
        return {}

    def set_learning_rate(self, lr: float) -> None:
        set_learning_rate(self.optimizer, lr)

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.evaluated, ids)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.evaluated.state_dict().items()}

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """These weights into the model (and, with --ema, its average, restarted from them)."""
        for module in {id(m): m for m in (self.model, self.evaluated)}.values():
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()},
                                   strict=True)

    def state_bytes(self) -> bytes:
        buf = io.BytesIO()
        blob = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": torch.get_rng_state()}
        if self.ema is not None:
            blob["ema"] = self.ema.state_dict()
        torch.save(blob, buf)
        return buf.getvalue()

    def restore_state(self, data: bytes) -> None:
        blob = safe_load(io.BytesIO(data))
        self.model.load_state_dict(blob["model"], strict=True)
        self.optimizer.load_state_dict(blob["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(blob["ema"], strict=True)
        torch.set_rng_state(blob["rng"])
