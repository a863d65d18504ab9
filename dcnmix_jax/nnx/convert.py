"""Exact weight movement between the NNX modules and the linen variables (and through them
the twin's state_dict, dcnmix.layout / parity.convert).

    model = dcnmix_jax.nnx.model_for(cfg, rngs=nnx.Rngs(0))
    from_linen(variables, model)          # {'params', 'batch_stats'} -> the module, in place
    variables = to_linen(model)           # and back: to_linen(from_linen(v, m)) == v, bit-exact

Paths are the linen ones: an NNX module's attribute names are linen's scope names (dense_0,
bn_0, layers_0, ...), so a linen path is the NNX path, with the vmap form's `experts`
level left out (its leaves sit beside the gate in linen's layout: dcnmix_jax.cross).
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx
from flax.traverse_util import flatten_dict, unflatten_dict

COLLECTIONS = {"params": nnx.Param, "batch_stats": nnx.BatchStat}


def _linen_path(path: tuple) -> tuple:
    return tuple(str(p) for p in path if p != "experts")


def _variables(model, kind):
    """(NNX path, the model's own nnx.Variable) of one variable kind."""
    for path, node in nnx.iter_graph(model):
        if isinstance(node, kind):
            yield path, node


def to_linen(model) -> dict:
    """The linen variables {'params': ..., 'batch_stats': ...} of an NNX model (the same
    arrays, not copies; batch_stats only when the model has any)."""
    out = {}
    for collection, kind in COLLECTIONS.items():
        flat = {_linen_path(p): v[...] for p, v in _variables(model, kind)}
        if flat or collection == "params":
            out[collection] = unflatten_dict(flat)
    return out


def from_linen(variables, model):
    """Load linen variables into an NNX model of the same configuration, in place; returns
    the model. Every leaf must be there with its shape (the dtype is the variables', as in
    linen: float64 ones under JAX_ENABLE_X64); a missing, extra or misshapen one raises,
    naming its path. The model may be an unfilled one (dcnmix_jax.nnx.build.unfilled)."""
    targets = {}
    for collection, kind in COLLECTIONS.items():
        for path, var in _variables(model, kind):
            targets[(collection,) + _linen_path(path)] = (path, var)
    given = {k: v for k, v in flatten_dict(dict(variables)).items()}
    missing = sorted("/".join(k) for k in targets if k not in given)
    extra = sorted("/".join(k) for k in given if k not in targets)
    if missing or extra:
        raise ValueError(f"the variables do not fit this model: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
    for key, (path, var) in targets.items():
        array = jnp.array(given[key], copy=True)   # its own buffers: a donated linen state cannot free them
        shape = var.get_value().shape
        if array.shape != shape:
            raise ValueError(f"{'/'.join(key)}: the model has shape {list(shape)}, "
                             f"the variables {list(array.shape)}")
        var.set_value(array)
    return model


def state_to_linen(state) -> dict:
    """An nnx.State (say, the gradients nnx.grad returns) as a dict in linen's layout."""
    flat = flatten_dict(nnx.to_pure_dict(state))
    return unflatten_dict({_linen_path(path): leaf for path, leaf in flat.items()})
