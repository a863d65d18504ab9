"""The NNX module of a dcnmix.config.ModelConfig (the class its registry entry declares),
and a run's torch-keyed weights loaded into it."""
from __future__ import annotations

from flax import nnx

from dcnmix.models import spec


def model_for(cfg, *, rngs: nnx.Rngs | None = None, mixture: str = "gemm", dtype=None):
    """dcnmix_jax.model.model_for's NNX twin: spec(cfg.model).module('nnx')(**cfg.kwargs(),
    rngs=...) and, for a model with compute options, mixture= and dtype=."""
    declared = spec(cfg.model)
    extra = {k: v for k, v in (("mixture", mixture), ("dtype", dtype)) if k in declared.jax_options}
    return declared.module("nnx")(**cfg.kwargs(), **extra, rngs=rngs or nnx.Rngs(0))


def unfilled(cfg, *, seed: int = 0, mixture: str = "gemm", dtype=None):
    """The NNX model of `cfg` with its parameters and batch statistics as shapes only (no
    initialisation run; fill them with from_linen) and its dropout streams seeded by `seed`."""
    model = nnx.eval_shape(lambda: model_for(cfg, mixture=mixture, dtype=dtype))
    nnx.reseed(model, default=seed, dropout=seed)
    return model


def from_linen_variables(cfg, variables, **options):
    """An NNX model of `cfg` holding linen variables (copied)."""
    from .convert import from_linen
    return from_linen(variables, unfilled(cfg, **options))


def from_arrays(cfg, arrays, **options):
    """An NNX model holding torch-keyed weights (a run's best.safetensors, dcnmix.layout)."""
    from dcnmix.layout import arrays_to_flax
    return from_linen_variables(cfg, arrays_to_flax(arrays, cfg), **options)
