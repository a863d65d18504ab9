"""The optimiser registry: each optimiser declared once, with torch's semantics in both
frameworks (dcnmix_jax.optim builds it as an optax chain, dcnmix_torch.optim as torch.optim).

    --optimizer adam      torch.optim.Adam: coupled L2 (--weight-decay added to the gradient)
    --optimizer adamw     torch.optim.AdamW: decoupled decay (p <- p - lr * wd * p)
    --optimizer adagrad   torch.optim.Adagrad (MLPerf DLRM-DCNv2's): eps 1e-10 outside the root
    --optimizer sgd       torch.optim.SGD, --momentum (heavy ball, no dampening)

`lazy`: the optimiser has a row-wise form for the embedding table (--embedding-optimizer
lazy, JAX): a step updates only the rows a batch looked up (dcnmix_jax.lazy).
Framework-free.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """name: the --optimizer value; options: the TrainConfig fields only this optimiser
    reads (the others must keep their defaults); lazy: a row-wise lazy form exists;
    reference: the torch class whose arithmetic both frameworks follow."""

    name: str
    summary: str
    reference: str
    options: tuple[str, ...] = ()
    lazy: bool = False


REGISTRY = {s.name: s for s in (
    OptimizerSpec("adam", "Adam, coupled L2 (the seed's)", "torch.optim.Adam", lazy=True),
    OptimizerSpec("adamw", "Adam with decoupled weight decay", "torch.optim.AdamW"),
    OptimizerSpec("adagrad", "Adagrad (MLPerf DLRM-DCNv2)", "torch.optim.Adagrad", lazy=True),
    OptimizerSpec("sgd", "SGD with optional momentum", "torch.optim.SGD", options=("momentum",)),
)}
NAMES = tuple(REGISTRY)
# every TrainConfig field that belongs to one optimiser
OWN_OPTIONS = {o: name for name, s in REGISTRY.items() for o in s.options}


def spec(name: str) -> OptimizerSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown optimizer {name!r} (expected one of {NAMES})")
    return REGISTRY[name]
