"""Optimiser and steps for the twin: plain torch, the same loss as the JAX trainer."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def make_optimizer(model, lr: float = 1e-3, weight_decay: float = 0.0, eps: float = 1e-8,
                   emb_weight_decay: float | None = None):
    """torch.optim.Adam (coupled L2 weight decay), the seed's optimiser; emb_weight_decay (if
    given) is the embedding table's own weight decay (a second parameter group)."""
    if emb_weight_decay is None:
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps, weight_decay=weight_decay)
    emb = [p for n, p in model.named_parameters() if n.startswith("embedding.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("embedding.")]
    return torch.optim.Adam([{"params": emb, "weight_decay": emb_weight_decay},
                             {"params": rest, "weight_decay": weight_decay}], lr=lr, eps=eps)


def train_step(model, optimizer, ids: np.ndarray, labels: np.ndarray) -> float:
    """One step of mean binary cross-entropy on logits; returns the loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    logits = model.logits(torch.as_tensor(ids, dtype=torch.long))
    loss = F.binary_cross_entropy_with_logits(logits, torch.as_tensor(labels, dtype=logits.dtype))
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def predict(model, ids: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Eval-mode probabilities for all rows of ids, as float64 numpy."""
    model.eval()
    out = [model(torch.from_numpy(np.array(ids[i:i + batch_size], dtype=np.int64))).numpy()
           for i in range(0, len(ids), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
