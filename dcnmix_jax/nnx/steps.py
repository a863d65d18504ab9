"""An NNX training loop's pieces, as the flax examples write them (nnx.Optimizer, nnx.jit):

    model = DCN(10, 72, 16, 2, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, dcnmix_jax.torch_adam(1e-3), wrt=nnx.Param)
    model.train()
    for ids, labels in batches:
        loss = train_step(model, optimizer, ids, labels)
    model.eval()

and the fast form for small models (the Flax performance guide's): the graph split once, a
jax.jit'ed pure step over the state, merged back when the loop ends.

    step, state = fast_step(model, optimizer)
    for ids, labels in batches:
        state, loss = step(state, ids, labels)
    nnx.update((model, optimizer), state)
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
    """(step, state): `step(state, batch, labels) -> (state, loss)` is a jax.jit'ed pure
    function of the split (model, optimizer) state (donated), so a step costs no NNX graph
    traversal; nnx.update((model, optimizer), state) writes the state back."""
    graphdef, state = nnx.split((model, optimizer))

    def step(state, batch, labels):
        model, optimizer = nnx.merge(graphdef, state)
        loss = _update(model, optimizer, batch, labels)
        return nnx.state((model, optimizer)), loss

    return jax.jit(step, donate_argnums=0), state


@nnx.jit
def predict(model, batch):
    """Probabilities of a batch in the model's current mode."""
    return model(batch)
