"""Optimisers: torch.optim.Adam as an optax chain, and row-wise ("lazy") Adam for tables.

torch_adam: weight_decay is torch's coupled L2 (added to the gradient before the moments),
not AdamW's decoupled decay; eps is added outside the square root; the step size is an
injected hyperparameter (optax.inject_hyperparams), so the learning rate can change between
epochs without recompiling (set_learning_rate).

lazy_adam_rows: Adam on the rows of a table that a batch touched, the semantics of
TensorFlow Addons' LazyAdam and torch.optim.SparseAdam (see dcnmix_jax.lazy). It is a
function, not an optax GradientTransformation: an optax update is dense (the size of its
parameters), which is exactly the O(table) cost lazy Adam exists to avoid.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def is_embedding(params):
    """Mask: True on the embedding table, False elsewhere."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[0], "key", None) == "embedding", params)


def torch_adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
               weight_decay: float = 0.0, emb_weight_decay: float | None = None
               ) -> optax.GradientTransformation:
    """torch.optim.Adam as optax. emb_weight_decay (if given) replaces weight_decay on the
    embedding table, as a torch parameter group would (dcnmix_torch.steps.make_optimizer)."""
    parts = []
    if emb_weight_decay is None:
        if weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay))
    else:
        not_embedding = lambda p: jax.tree_util.tree_map(lambda m: not m, is_embedding(p))
        if emb_weight_decay:
            parts.append(optax.add_decayed_weights(emb_weight_decay, mask=is_embedding))
        if weight_decay:
            parts.append(optax.add_decayed_weights(weight_decay, mask=not_embedding))
    return optax.chain(*parts, optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
                       optax.inject_hyperparams(optax.scale)(step_size=-lr))


def set_learning_rate(opt_state, lr: float):
    """A torch_adam optimiser state with its learning rate replaced."""
    *head, last = opt_state
    hyper = dict(last.hyperparams, step_size=jnp.asarray(-lr, jnp.float32))
    return (*head, last._replace(hyperparams=hyper))


def lazy_adam_rows(table, m, v, ids, row_grads, step, *, lr, b1=0.9, b2=0.999, eps=1e-8,
                   weight_decay=0.0):
    """One lazy-Adam step of `table` [N, E] and its moments m, v for the rows looked up by
    `ids` (any shape) whose gradients are `row_grads` [ids.size, E]; step is the global step
    (0-based). Each distinct id is updated once, with its gradients summed; other rows, and
    their moments, are unchanged. Returns (table, m, v)."""
    n, dim = ids.size, table.shape[1]
    uniq, inverse = jnp.unique(ids.reshape(-1), size=n, fill_value=table.shape[0],
                               return_inverse=True)
    g = jax.ops.segment_sum(row_grads.reshape(n, dim), inverse.reshape(-1), num_segments=n)
    p = table.at[uniq].get(mode="fill", fill_value=0)
    if weight_decay:
        g = g + weight_decay * p
    t = (step + 1).astype(jnp.float32)
    m_new = b1 * m.at[uniq].get(mode="fill", fill_value=0) + (1 - b1) * g
    v_new = b2 * v.at[uniq].get(mode="fill", fill_value=0) + (1 - b2) * g * g
    p_new = p - lr * (m_new / (1 - b1 ** t)) / (jnp.sqrt(v_new / (1 - b2 ** t)) + eps)
    return (table.at[uniq].set(p_new, mode="drop"), m.at[uniq].set(m_new, mode="drop"),
            v.at[uniq].set(v_new, mode="drop"))
