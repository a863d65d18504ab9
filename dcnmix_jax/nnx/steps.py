"""An NNX training loop's pieces, as the flax examples write them (nnx.Optimizer, nnx.jit):

    model = DCN(10, 72, 16, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, dcnmix_jax.torch_adam(1e-3), wrt=nnx.Param)
    model.train()
    for ids, labels in batches:
        loss = train_step(model, optimizer, ids, labels)
    model.eval()

and the fast form for small models (the Flax performance guide's): the graph split once, a
jax.jit'ed pure step over the state, merged back when the loop ends.

    step, state, write_back = fast_step(model, optimizer)
    for ids, labels in batches:
        state, loss = step(state, ids, labels)
    write_back(state)
"""
from __future__ import annotations

import jax
import optax
from flax import nnx


def loss_fn(model, batch, labels):
    """Mean binary cross-entropy of the model's logits (the library's loss, as linen's)."""
    return optax.sigmoid_binary_cross_entropy(model.logits(batch), labels).mean()


def _update(model, optimizer, batch, labels):
    """The step's body: loss and gradients w.r.t. the nnx.Param leaves, the optimiser's update."""
    loss, grads = nnx.value_and_grad(loss_fn)(model, batch, labels)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def train_step(model, optimizer: nnx.Optimizer, batch, labels):
    """One optimisation step in place (model and optimizer updated); returns the loss."""
    return _update(model, optimizer, batch, labels)


def fast_step(model, optimizer: nnx.Optimizer):
    """(step, state, write_back) for a loop with no NNX work per step: `state` is the split
    (model, optimizer) state as a flat tuple of arrays (jax flattens it in C++, where an
    nnx.State is walked in Python: ~0.8 ms a call on the seed model, benchmarks/nnx_loop.py),
    `step(state, batch, labels) -> (state, loss)` a jax.jit'ed pure step (state donated),
    `write_back(state)` puts the state back into model and optimizer."""
    graphdef, split = nnx.split((model, optimizer))
    leaves, treedef = jax.tree_util.tree_flatten(split)

    def step(leaves, batch, labels):
        model, optimizer = nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, leaves))
        loss = _update(model, optimizer, batch, labels)
        return tuple(jax.tree_util.tree_leaves(nnx.state((model, optimizer)))), loss

    def write_back(leaves) -> None:
        nnx.update((model, optimizer), jax.tree_util.tree_unflatten(treedef, list(leaves)))

    return jax.jit(step, donate_argnums=0), tuple(leaves), write_back


@nnx.jit
def predict(model, batch):
    """Probabilities of a batch in the model's current mode."""
    return model(batch)
