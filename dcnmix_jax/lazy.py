"""Row-wise ("lazy") Adam for the embedding table: a step costs O(batch), not O(table).

Dense Adam (dcnmix_jax.steps, torch.optim.Adam) updates every row of the table at every
step, so a 10M x 16 table costs 160M parameters plus 320M moment values of memory traffic
per step whatever the batch. Here the gradient is taken w.r.t. the looked-up rows only,
summed per distinct id, and Adam runs on those rows alone (scatter into the donated table):

    for each id in the batch (once):  m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
                                       row <- row - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    rows not in the batch: unchanged (their moments do not decay).

These are the semantics of TensorFlow Addons' LazyAdam and of torch.optim.SparseAdam (t is
the global step). They equal dense Adam exactly at the first step, and at every step for rows
present in every batch; they differ for rows that skip steps (dense Adam keeps moving them
with decaying momentum). Everything except the table uses the dense optimiser unchanged.
The table's learning rate lives in the state (`lr`), so reduce-on-plateau works here too.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from .optim import lazy_adam_rows, set_learning_rate
from .steps import scan_batches, scan_steps


@flax.struct.dataclass
class LazyState:
    """Dense parameters with their optax state, plus the table and its row-wise moments."""

    step: jax.Array
    params: Any                 # everything but params['embedding']
    opt_state: Any
    batch_stats: Any
    table: jax.Array            # [feat_dim, emb_num]
    m: jax.Array
    v: jax.Array
    lr: jax.Array               # the table's learning rate (a scalar)
    dropout_key: jax.Array
    apply_fn: Any = flax.struct.field(pytree_node=False)
    tx: Any = flax.struct.field(pytree_node=False)
    hyper: tuple = flax.struct.field(pytree_node=False)   # (b1, b2, eps, emb_weight_decay)

    def variables(self) -> dict:
        """Full flax variables (the table back in params['embedding'])."""
        return {"params": {**self.params, "embedding": {"embedding": self.table}},
                "batch_stats": self.batch_stats}

    def with_learning_rate(self, lr: float) -> "LazyState":
        """The same state with the learning rate of the table and of the dense optimiser set."""
        return self.replace(lr=jnp.asarray(lr, self.lr.dtype),
                            opt_state=set_learning_rate(self.opt_state, lr))


def create_lazy_state(model, variables, tx: optax.GradientTransformation, dropout_key, *,
                      lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                      emb_weight_decay: float = 0.0) -> LazyState:
    """tx optimises the dense parameters; the table gets lazy Adam with these hyperparameters."""
    params = {k: v for k, v in variables["params"].items() if k != "embedding"}
    table = jnp.asarray(variables["params"]["embedding"]["embedding"])
    return LazyState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                     batch_stats=variables.get("batch_stats", {}), table=table,
                     m=jnp.zeros_like(table), v=jnp.zeros_like(table),
                     lr=jnp.asarray(lr, table.dtype), dropout_key=dropout_key,
                     apply_fn=model.apply, tx=tx, hyper=(b1, b2, eps, emb_weight_decay))


def lazy_step(state: LazyState, ids, labels):
    """(LazyState, ids [B, F], labels [B]) -> (LazyState, loss), not jitted."""
    from .model import DCN
    b1, b2, eps, wd = state.hyper
    rows = jnp.take(state.table, ids, axis=0)   # [B, F, E]

    def loss_fn(params, rows):
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats}, rows, train=True,
            method=DCN.logits_from_embeddings,
            rngs={"dropout": jax.random.fold_in(state.dropout_key, state.step)},
            mutable=["batch_stats"])
        return optax.sigmoid_binary_cross_entropy(logits, labels).mean(), updates["batch_stats"]

    (loss, batch_stats), (g_params, g_rows) = jax.value_and_grad(
        loss_fn, argnums=(0, 1), has_aux=True)(state.params, rows)
    updates, opt_state = state.tx.update(g_params, state.opt_state, state.params)
    table, m, v = lazy_adam_rows(state.table, state.m, state.v, ids, g_rows, state.step,
                                 lr=state.lr, b1=b1, b2=b2, eps=eps,
                                 weight_decay=wd)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state, batch_stats=batch_stats, table=table, m=m, v=v)
    return state, loss


lazy_train_step = jax.jit(lazy_step, donate_argnums=0)
"""(LazyState, ids [B, F], labels [B]) -> (LazyState, loss); the state is donated."""


lazy_train_steps = jax.jit(scan_steps(lazy_step), donate_argnums=0)
"""lax.scan over S batches of device-resident rows, as dcnmix_jax.steps.train_steps."""


def lazy_predict(state: LazyState, ids):
    """Eval-mode probabilities, not jitted."""
    from .model import DCN
    return state.apply_fn(state.variables(), ids, method=DCN.__call__)


lazy_predict_batch = jax.jit(lazy_predict)
lazy_train_batches = jax.jit(scan_batches(lazy_step), donate_argnums=0)
