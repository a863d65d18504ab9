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


def _is_embedding(params):
    """Mask: True on the embedding table, False elsewhere."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[0], "key", None) == "embedding", params)


def torch_adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, emb_weight_decay: float | None = None
               ) -> optax.GradientTransformation:
    """torch.optim.Adam as optax: weight_decay is torch's coupled L2 (added to the gradient
    before the moments), not AdamW's decoupled decay; eps is added outside the square root.
    emb_weight_decay (if given) replaces weight_decay on the embedding table, as a torch
    parameter group would (dcnmix_torch.steps.make_optimizer)."""
    parts = []
    if emb_weight_decay is None:
        if weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay))
    else:
        not_embedding = lambda p: jax.tree_util.tree_map(lambda m: not m, _is_embedding(p))
        if emb_weight_decay:
            parts.append(optax.add_decayed_weights(emb_weight_decay, mask=_is_embedding))
        if weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay, mask=not_embedding))
    # the step size is a hyperparameter in the optimiser state, so set_learning_rate can
    # lower it between epochs without recompiling
    return optax.chain(*parts, optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                       optax.inject_hyperparams(optax.scale)(step_size=-lr))


def set_learning_rate(opt_state, lr: float):
    """The torch_adam optimiser state with its learning rate replaced."""
    *head, last = opt_state
    hyper = dict(last.hyperparams, step_size=jnp.asarray(-lr, jnp.float32))
    return (*head, last._replace(hyperparams=hyper))


def create_state(model, variables, tx: optax.GradientTransformation, dropout_key) -> TrainState:
    """TrainState from initialised (or converted) variables {'params', 'batch_stats'}."""
    state = TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                              batch_stats=variables.get("batch_stats", {}), dropout_key=dropout_key)
    # a strongly typed step: TrainState.create's Python 0 is weakly typed, and the step that
    # comes back from the first jitted call is not, which would cost a second compilation
    return state.replace(step=jnp.zeros((), jnp.int32))


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


def scan_steps(step, batch_sharding=None):
    """S calls of step(state, ids, labels) in one lax.scan: (state, ids [N, F], labels [N],
    index [S, B] int32) -> (state, losses [S]); batch s is rows index[s] of the device-resident
    ids/labels, gathered on the device. batch_sharding (a jax.sharding.Sharding of the batch
    axis) spreads each gathered batch over a mesh (dcnmix_jax.sharding)."""
    def steps(state, ids, labels, index):
        def body(st, rows):
            batch = jnp.take(ids, rows, axis=0), jnp.take(labels, rows, axis=0)
            if batch_sharding is not None:
                batch = jax.lax.with_sharding_constraint(batch, (batch_sharding, batch_sharding))
            return step(st, *batch)
        return jax.lax.scan(body, state, index)
    return steps


train_steps = jax.jit(scan_steps(_train_step), donate_argnums=0)
"""(state, ids [N, F], labels [N], index [S, B] int32) -> (state, losses [S]): a whole chunk
of an epoch costs one dispatch and no host transfer. Same arithmetic as S calls of
train_step. The state is donated."""


@jax.jit
def _predict(state: TrainState, ids):
    from .model import DCN
    return state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, ids,
                          method=DCN.__call__)


def predict(state, ids: np.ndarray, batch_size: int = 8192, predict_batch=_predict) -> np.ndarray:
    """Eval-mode probabilities for all rows of ids, as float64 numpy (for AUC / logloss)."""
    out = [np.asarray(predict_batch(state, ids[i:i + batch_size]))
           for i in range(0, len(ids), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
