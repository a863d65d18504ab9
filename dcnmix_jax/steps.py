"""Training state and jitted steps for dcnmix_jax.DCN (flax.linen + optax idioms).

    state = create_state(model, variables, torch_adam(1e-3), dropout_key)
    state, loss = train_step(state, ids, labels)          # jitted, state donated
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training import train_state

from dcnmix.backends import predict_in_batches

from .optim import set_learning_rate


class TrainState(train_state.TrainState):
    """flax TrainState plus BatchNorm statistics and the dropout key (folded with the step);
    with ema_decay (`--ema`), `ema` the parameters' exponential moving average, which
    variables() (what is evaluated and saved) gives instead of params."""

    batch_stats: Any
    dropout_key: jax.Array
    ema: Any = None
    ema_decay: float | None = struct.field(pytree_node=False, default=None)

    def variables(self) -> dict:
        params = self.params if self.ema is None else self.ema
        return {"params": params, "batch_stats": self.batch_stats}

    def with_params(self, params) -> "TrainState":
        """The state with these parameters (and, with --ema, the average restarted from them)."""
        return self.replace(params=params, ema=None if self.ema is None else params)

    def with_learning_rate(self, lr: float) -> "TrainState":
        return self.replace(opt_state=set_learning_rate(self.opt_state, lr))


def create_state(model, variables, tx: optax.GradientTransformation, dropout_key, *,
                 ema: float | None = None) -> TrainState:
    """TrainState from initialised (or converted) variables {'params', 'batch_stats'}; ema: the
    decay of the parameters' moving average (TrainConfig.ema; None: none kept)."""
    params = variables["params"]
    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                              batch_stats=variables.get("batch_stats", {}), dropout_key=dropout_key,
                              ema=None if ema is None else jax.tree.map(jnp.copy, params),
                              ema_decay=ema)
    # a strongly typed step: TrainState.create's Python 0 is weakly typed, and the step that
    # comes back from the first jitted call is not, which would cost a second compilation
    return state.replace(step=jnp.zeros((), jnp.int32))


def loss_fn(params, state, inputs, labels, method: str = "logits"):
    """Mean binary cross-entropy on logits in training mode; returns (loss, new batch_stats).
    Any module with a `logits(ids, train=)` method trains here (every model of the registry);
    with method='logits_from_embeddings', `inputs` are looked-up rows (dcnmix_jax.lazy).
    `state`: anything with apply_fn, batch_stats, dropout_key and step (TrainState, LazyState)."""
    logits, updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats}, inputs, train=True,
        method=method, rngs={"dropout": jax.random.fold_in(state.dropout_key, state.step)},
        mutable=["batch_stats"])
    loss = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
    return loss, updates.get("batch_stats", {})


def step(state: TrainState, ids, labels):
    """One optimisation step, not jitted: (state, ids [B, F] int32, labels [B] float32) ->
    (state, loss). Jit it yourself (with donate_argnums=0), or use train_step."""
    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state, ids, labels)
    return average(state, state.apply_gradients(grads=grads, batch_stats=batch_stats)), loss


def lerp(start, end, weight: float):
    """start + weight (end - start) as torch.lerp computes it (the other form above 0.5)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def average(before: TrainState, after: TrainState) -> TrainState:
    """`after` with its moving average updated as torch's AveragedModel with
    get_ema_multi_avg_fn(decay) does (`--ema`): the first step's parameters copied, then
    ema <- lerp(ema, params, 1 - decay). Without ema_decay, `after` as it is."""
    if after.ema is None:
        return after
    first = before.step == 0
    ema = jax.tree.map(lambda e, p: jnp.where(first, p, lerp(e, p, 1.0 - after.ema_decay)),
                       after.ema, after.params)
    return after.replace(ema=ema)


train_step = jax.jit(step, donate_argnums=0)
"""One optimisation step: (state, ids [B, F] int32, labels [B] float32) -> (state, loss).
The incoming state is donated: do not use it after the call."""


def scan_steps(step_fn, batch_sharding=None):
    """S calls of step_fn(state, ids, labels) in one lax.scan: (state, ids [N, F], labels [N],
    index [S, B] int32) -> (state, losses [S]); batch s is rows index[s] of the device-resident
    ids/labels, gathered on the device. batch_sharding (a jax.sharding.Sharding of the batch
    axis) spreads each gathered batch over a mesh (dcnmix_jax.sharding)."""
    def steps(state, ids, labels, index):
        def body(st, rows):
            batch = jax.tree_util.tree_map(lambda x: jnp.take(x, rows, axis=0), (ids, labels))
            if batch_sharding is not None:
                batch = jax.tree_util.tree_map(
                    lambda x: jax.lax.with_sharding_constraint(x, batch_sharding), batch)
            return step_fn(st, *batch)
        return jax.lax.scan(body, state, index)
    return steps


def scan_batches(step_fn):
    """S calls of step_fn in one lax.scan over batches given whole: (state, ids [S, B, F],
    labels [S, B]) -> (state, losses [S]). The streaming path's body: each process may hold
    only its own rows of every batch (ids sharded over the mesh's 'data' axis on B)."""
    def steps(state, ids, labels):
        return jax.lax.scan(lambda st, batch: step_fn(st, *batch), state, (ids, labels))
    return steps


train_steps = jax.jit(scan_steps(step), donate_argnums=0)
"""(state, ids [N, F], labels [N], index [S, B] int32) -> (state, losses [S]): a whole chunk
of an epoch costs one dispatch and no host transfer. Same arithmetic as S calls of
train_step. The state is donated."""


def predict_probs(state: TrainState, ids):
    """Eval-mode probabilities of one batch, not jitted."""
    return state.apply_fn(state.variables(), ids)


predict_batch = jax.jit(predict_probs)
train_batches = jax.jit(scan_batches(step), donate_argnums=0)
"""(state, ids [S, B, F], labels [S, B]) -> (state, losses [S]); the state is donated."""


def predict(state, ids: np.ndarray, batch_size: int = 8192, predict_batch=predict_batch) -> np.ndarray:
    """Eval-mode probabilities for all rows of ids, as float64 numpy (for AUC / logloss)."""
    return predict_in_batches(lambda batch: predict_batch(state, batch), ids, batch_size, pad=True)


@dataclasses.dataclass(frozen=True)
class Steps:
    """The functions a trainer trains and predicts with (all jitted, the state donated):
    step(state, ids, labels) -> (state, loss); resident(state, ids, labels, index [S, B]) ->
    (state, losses [S]) over S batches of device-resident rows; predict(state, ids) ->
    probabilities; put(x) places host data where the steps expect it; streamed(state, ids
    [S, B, F], labels [S, B]) -> (state, losses [S]) over S batches sent from the host,
    whose B axis is split by batch_sharding (None: one device)."""

    step: Callable
    resident: Callable
    predict: Callable
    put: Callable
    streamed: Callable = None
    batch_sharding: object = None
