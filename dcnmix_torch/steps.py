"""Steps for the twin: plain torch, the same loss as the JAX trainer (the optimisers:
dcnmix_torch.optim)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dcnmix.backends import predict_in_batches

from .inputs import to_torch


def train_step(model, optimizer, ids: np.ndarray, labels: np.ndarray, *,
               clip_norm: float | None = None) -> float:
    """One step of mean binary cross-entropy on logits; returns the loss. `ids`: a batch
    (dcnmix.data.features: ids, or a typed dict); clip_norm: the gradients' global norm is
    clipped to it first (torch.nn.utils.clip_grad_norm_)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    logits = model.logits(to_torch(ids))
    loss = F.binary_cross_entropy_with_logits(logits, torch.as_tensor(labels, dtype=logits.dtype))
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return float(loss.detach())


def averaged(model, decay: float):
    """The moving average of `model`'s parameters (`--ema`): torch's AveragedModel with
    get_ema_multi_avg_fn(decay), its buffers (BatchNorm statistics) kept equal to the
    model's; call .update_parameters(model) after each step, evaluate .module."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


@torch.no_grad()
def predict(model, ids: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Eval-mode probabilities for all rows of ids, as float64 numpy."""
    model.eval()
    return predict_in_batches(lambda batch: model(to_torch(batch)).numpy(), ids, batch_size)
