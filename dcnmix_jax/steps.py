"""Training state, optimiser and jitted steps for dcnmix_jax.DCN (flax.linen + optax idioms)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state


class TrainState(train_state.TrainState):
    """flax TrainState plus BatchNorm statistics and the dropout key (folded with the step)."""

    batch_stats: Any
    dropout_key: jax.Array


def torch_adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0) -> optax.GradientTransformation:
    """torch.optim.Adam as optax: weight_decay is torch's coupled L2 (added to the gradient
    before the moments), not AdamW's decoupled decay; eps is added outside the square root."""
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    return optax.chain(*parts, optax.scale_by_adam(b1=b1, b2=b2, eps=eps), optax.scale(-lr))


def create_state(model, variables, tx: optax.GradientTransformation, dropout_key) -> TrainState:
    """TrainState from initialised (or converted) variables {'params', 'batch_stats'}."""
    return TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                             batch_stats=variables.get("batch_stats", {}), dropout_key=dropout_key)


def loss_fn(params, state: TrainState, ids, labels):
    """Mean binary cross-entropy on logits in training mode; returns (loss, new batch_stats)."""
    from .model import DCN
    logits, updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats}, ids, train=True,
        method=DCN.logits, rngs={"dropout": jax.random.fold_in(state.dropout_key, state.step)},
        mutable=["batch_stats"])
    loss = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
    return loss, updates["batch_stats"]


def _train_step(state: TrainState, ids, labels):
    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state, ids, labels)
    return state.apply_gradients(grads=grads, batch_stats=batch_stats), loss


train_step = jax.jit(_train_step, donate_argnums=0)
"""One optimisation step: (state, ids [B, F] int32, labels [B] float32) -> (state, loss).
The incoming state is donated: do not use it after the call."""


@jax.jit
def _predict(state: TrainState, ids):
    from .model import DCN
    return state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, ids,
                          method=DCN.__call__)


def predict(state: TrainState, ids: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Eval-mode probabilities for all rows of ids, as float64 numpy (for AUC / logloss)."""
    out = [np.asarray(_predict(state, jnp.asarray(ids[i:i + batch_size])))
           for i in range(0, len(ids), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
