"""Row-wise ("lazy") optimisers for the embedding table: a step costs O(batch), not O(table).
Lazy Adam (below) and lazy Adagrad (dcnmix_jax.optim.lazy_adagrad_rows, equal to dense
Adagrad without weight decay); --embedding-optimizer lazy with --optimizer adam or adagrad.

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

from .optim import ROW_UPDATES, set_learning_rate
from .steps import loss_fn, scan_batches, scan_steps


@flax.struct.dataclass
class LazyState:
    """Dense parameters with their optax state, plus the table and its per-row optimiser
    slots (lazy Adam: m and v; lazy Adagrad: sum)."""

    step: jax.Array
    params: Any                 # everything but params['embedding']
    opt_state: Any
    batch_stats: Any
    table: jax.Array            # [feat_dim, emb_num]
    slots: dict                 # name -> [feat_dim, emb_num]
    lr: jax.Array               # the table's learning rate (a scalar)
    dropout_key: jax.Array
    apply_fn: Any = flax.struct.field(pytree_node=False)
    tx: Any = flax.struct.field(pytree_node=False)
    optimizer: str = flax.struct.field(pytree_node=False, default="adam")
    weight_decay: float = flax.struct.field(pytree_node=False, default=0.0)  # the table's L2

    def variables(self) -> dict:
        """Full flax variables (the table back in params['embedding'])."""
        return {"params": {**self.params, "embedding": {"embedding": self.table}},
                "batch_stats": self.batch_stats}

    def with_learning_rate(self, lr: float) -> "LazyState":
        """The same state with the learning rate of the table and of the dense optimiser set."""
        return self.replace(lr=jnp.asarray(lr, self.lr.dtype),
                            opt_state=set_learning_rate(self.opt_state, lr))


def create_lazy_state(model, variables, tx: optax.GradientTransformation, dropout_key, *,
                      lr: float, optimizer: str = "adam", emb_weight_decay: float = 0.0) -> LazyState:
    """tx optimises the dense parameters; the table gets the row-wise form of `optimizer`
    (dcnmix_jax.optim.ROW_UPDATES) with learning rate lr and coupled L2 emb_weight_decay."""
    if optimizer not in ROW_UPDATES:
        raise ValueError(f"--optimizer {optimizer} has no lazy form (expected one of {tuple(ROW_UPDATES)})")
    params = {k: v for k, v in variables["params"].items() if k != "embedding"}
    table = jnp.asarray(variables["params"]["embedding"]["embedding"])
    slots = {name: jnp.zeros_like(table) for name in ROW_UPDATES[optimizer][1]}
    return LazyState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                     batch_stats=variables.get("batch_stats", {}), table=table, slots=slots,
                     lr=jnp.asarray(lr, table.dtype), dropout_key=dropout_key,
                     apply_fn=model.apply, tx=tx, optimizer=optimizer,
                     weight_decay=emb_weight_decay)


def lazy_step(state: LazyState, ids, labels):
    """(LazyState, ids [B, F], labels [B]) -> (LazyState, loss), not jitted. Any model with
    a `logits_from_embeddings` method trains here (DCN, CrossNetModel)."""
    rows = jnp.take(state.table, ids, axis=0)   # [B, F, E]
    rows_loss = lambda params, rows: loss_fn(params, state, rows, labels,
                                             method="logits_from_embeddings")
    (loss, batch_stats), (g_params, g_rows) = jax.value_and_grad(
        rows_loss, argnums=(0, 1), has_aux=True)(state.params, rows)
    updates, opt_state = state.tx.update(g_params, state.opt_state, state.params)
    row_update = ROW_UPDATES[state.optimizer][0]
    table, slots = row_update(state.table, state.slots, ids, g_rows, state.step, lr=state.lr,
                              weight_decay=state.weight_decay)
    state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state, batch_stats=batch_stats, table=table, slots=slots)
    return state, loss


lazy_train_step = jax.jit(lazy_step, donate_argnums=0)
"""(LazyState, ids [B, F], labels [B]) -> (LazyState, loss); the state is donated."""


lazy_train_steps = jax.jit(scan_steps(lazy_step), donate_argnums=0)
"""lax.scan over S batches of device-resident rows, as dcnmix_jax.steps.train_steps."""


def lazy_predict(state: LazyState, ids):
    """Eval-mode probabilities, not jitted."""
    return state.apply_fn(state.variables(), ids)


def migrate(raw: dict) -> dict:
    """A serialised LazyState written before slots existed (m and v at the top) in today's form."""
    if "slots" not in raw and "m" in raw:
        raw = {k: v for k, v in raw.items() if k not in ("m", "v")} | {
            "slots": {"m": raw["m"], "v": raw["v"]}}
    return raw


lazy_predict_batch = jax.jit(lazy_predict)
lazy_train_batches = jax.jit(scan_batches(lazy_step), donate_argnums=0)
