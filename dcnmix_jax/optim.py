"""The optimisers of dcnmix.optimizers as optax chains with torch's semantics, and their
row-wise ("lazy") forms for embedding tables.

    tx = make_optimizer(TrainConfig(optimizer="adagrad", lr=0.01))   # by name
    opt_state = set_learning_rate(opt_state, 5e-3)                    # by name, any chain

Every chain ends in the injected hyperparameter `step_size` (= -lr, optax.inject_hyperparams),
set by name (optax.tree_utils.tree_set), so the learning rate changes between epochs without
recompiling. Weight decay is torch's: coupled L2 (added to the gradient before the moments)
for adam, adagrad and sgd, decoupled for adamw; emb_weight_decay replaces it on the
embedding table, as a torch parameter group would (dcnmix_torch.optim).

The lazy forms (`ROW_UPDATES`) are functions, not optax GradientTransformations: an optax
update is dense (the size of its parameters), which is exactly the O(table) cost a lazy
optimiser exists to avoid (see dcnmix_jax.lazy).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from dcnmix.config import TrainConfig


def is_embedding(params):
    """Mask: True on the embedding table, False elsewhere."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[0], "key", None) == "embedding", params)


def coupled_l2(weight_decay: float = 0.0, emb_weight_decay: float | None = None) -> list:
    """torch's weight_decay (grad += wd * p), with the embedding table's own value if given."""
    if emb_weight_decay is None:
        return [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    not_embedding = lambda p: jax.tree_util.tree_map(lambda m: not m, is_embedding(p))
    parts = []
    if emb_weight_decay:
        parts.append(optax.add_decayed_weights(emb_weight_decay, mask=is_embedding))
    if weight_decay:
        parts.append(optax.add_decayed_weights(weight_decay, mask=not_embedding))
    return parts


def learning_rate(lr: float) -> optax.GradientTransformation:
    """The last link of every chain: updates x -lr, lr injected as `step_size` = -lr."""
    return optax.inject_hyperparams(optax.scale)(step_size=-lr)


def torch_adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, emb_weight_decay: float | None = None
               ) -> optax.GradientTransformation:
    """torch.optim.Adam: eps outside the square root, coupled L2."""
    return optax.chain(*coupled_l2(weight_decay, emb_weight_decay),
                       optax.scale_by_adam(b1=b1, b2=b2, eps=eps), learning_rate(lr))


def torch_adamw(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                weight_decay: float = 0.0, emb_weight_decay: float | None = None
                ) -> optax.GradientTransformation:
    """torch.optim.AdamW: p <- p - lr * (adam(g) + wd * p), the decay decoupled from the moments."""
    return optax.chain(optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                       *coupled_l2(weight_decay, emb_weight_decay), learning_rate(lr))


class AdagradState(NamedTuple):
    sum_of_squares: optax.Updates


def scale_by_torch_adagrad(eps: float = 1e-10) -> optax.GradientTransformation:
    """torch.optim.Adagrad's scaling: s <- s + g^2, g / (sqrt(s) + eps), s starting at 0.
    (optax.scale_by_rss puts eps inside the root and starts s at 0.1.) Hand-written for that."""
    def init(params):
        return AdagradState(jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        s = jax.tree_util.tree_map(lambda a, g: a + g * g, state.sum_of_squares, updates)
        out = jax.tree_util.tree_map(lambda g, a: g / (jnp.sqrt(a) + eps), updates, s)
        return out, AdagradState(s)
    return optax.GradientTransformation(init, update)


def torch_adagrad(lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0,
                  emb_weight_decay: float | None = None) -> optax.GradientTransformation:
    """torch.optim.Adagrad (lr_decay 0, initial accumulator 0), coupled L2."""
    return optax.chain(*coupled_l2(weight_decay, emb_weight_decay),
                       scale_by_torch_adagrad(eps), learning_rate(lr))


def torch_sgd(lr: float = 1e-2, momentum: float = 0.0, weight_decay: float = 0.0,
              emb_weight_decay: float | None = None) -> optax.GradientTransformation:
    """torch.optim.SGD: buf <- momentum * buf + g (buf = g at the first step), coupled L2."""
    parts = [optax.trace(decay=momentum)] if momentum else []
    return optax.chain(*coupled_l2(weight_decay, emb_weight_decay), *parts, learning_rate(lr))


# one builder per optimiser of dcnmix.optimizers, by its name
BUILDERS = {
    "adam": lambda tc: torch_adam(tc.lr, weight_decay=tc.weight_decay,
                                  emb_weight_decay=tc.emb_weight_decay),
    "adamw": lambda tc: torch_adamw(tc.lr, weight_decay=tc.weight_decay,
                                    emb_weight_decay=tc.emb_weight_decay),
    "adagrad": lambda tc: torch_adagrad(tc.lr, weight_decay=tc.weight_decay,
                                        emb_weight_decay=tc.emb_weight_decay),
    "sgd": lambda tc: torch_sgd(tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay,
                                emb_weight_decay=tc.emb_weight_decay),
}


def clip_by_global_norm_like_torch(max_norm: float) -> optax.GradientTransformation:
    """torch.nn.utils.clip_grad_norm_: g * min(max_norm / (||g|| + 1e-6), 1), ||g|| the norm
    over every gradient. (optax.clip_by_global_norm has no 1e-6 and leaves g alone below the
    norm; hand-written so that float64 training is identical in both frameworks.)"""
    def update(updates, state, params=None):
        norm = optax.tree.norm(updates)
        scale = jnp.minimum(max_norm / (norm + 1e-6), 1.0)
        return jax.tree_util.tree_map(lambda g: g * scale.astype(g.dtype), updates), state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(tc: TrainConfig) -> optax.GradientTransformation:
    """The optax chain of tc.optimizer with tc's learning rate and weight decay, after the
    gradients are clipped (tc.clip_norm)."""
    tx = BUILDERS[tc.optimizer](tc)
    return tx if tc.clip_norm is None else optax.chain(
        clip_by_global_norm_like_torch(tc.clip_norm), tx)


def set_learning_rate(opt_state, lr: float):
    """The optimiser state with its learning rate replaced (the `step_size` hyperparameter,
    found by name wherever it sits in the chain)."""
    return optax.tree_utils.tree_set(opt_state, step_size=jnp.asarray(-lr, jnp.float32))


# ------------------------------------------------------------------ row-wise (lazy) forms
def _touched(table, ids, row_grads):
    """(distinct ids padded with an out-of-range id, their summed gradients [n, E])."""
    n, dim = ids.size, table.shape[1]
    uniq, inverse = jnp.unique(ids.reshape(-1), size=n, fill_value=table.shape[0],
                               return_inverse=True)
    g = jax.ops.segment_sum(row_grads.reshape(n, dim), inverse.reshape(-1), num_segments=n)
    return uniq, g


def _rows(x, uniq):
    return x.at[uniq].get(mode="fill", fill_value=0)


def lazy_adam_rows(table, slots, ids, row_grads, step, *, lr, weight_decay=0.0, b1=0.9,
                   b2=0.999, eps=1e-8):
    """One lazy-Adam step of `table` [N, E] and its moments slots {'m', 'v'} for the rows
    looked up by `ids` (any shape) whose gradients are `row_grads` [ids.size, E]; step is
    the global step (0-based). Each distinct id is updated once, with its gradients summed;
    other rows, and their moments, are unchanged. Returns (table, slots)."""
    uniq, g = _touched(table, ids, row_grads)
    p = _rows(table, uniq)
    if weight_decay:
        g = g + weight_decay * p
    t = (step + 1).astype(jnp.float32)
    m = b1 * _rows(slots["m"], uniq) + (1 - b1) * g
    v = b2 * _rows(slots["v"], uniq) + (1 - b2) * g * g
    p_new = p - lr * (m / (1 - b1 ** t)) / (jnp.sqrt(v / (1 - b2 ** t)) + eps)
    return table.at[uniq].set(p_new, mode="drop"), {
        "m": slots["m"].at[uniq].set(m, mode="drop"), "v": slots["v"].at[uniq].set(v, mode="drop")}


def lazy_adagrad_rows(table, slots, ids, row_grads, step, *, lr, weight_decay=0.0, eps=1e-10):
    """One lazy-Adagrad step (slots {'sum'}): torch.optim.Adagrad on the looked-up rows. Rows
    a batch does not touch have a zero gradient, so without weight decay this equals dense
    Adagrad exactly."""
    uniq, g = _touched(table, ids, row_grads)
    p = _rows(table, uniq)
    if weight_decay:
        g = g + weight_decay * p
    s = _rows(slots["sum"], uniq) + g * g
    p_new = p - lr * g / (jnp.sqrt(s) + eps)
    return table.at[uniq].set(p_new, mode="drop"), {"sum": slots["sum"].at[uniq].set(s, mode="drop")}


# optimiser name -> (its row-wise update, the names of its per-row slots)
ROW_UPDATES = {"adam": (lazy_adam_rows, ("m", "v")), "adagrad": (lazy_adagrad_rows, ("sum",))}
