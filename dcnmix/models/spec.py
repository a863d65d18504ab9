"""ModelSpec: everything dcnmix needs to know of one model, declared once.

A declaration module in this package (dcnmix/models/<name>.py) exposes SPECS, a tuple of
ModelSpec; dcnmix.models finds every such module by itself. ModelConfig, the CLI flags and
their per-model defaults, the weights layout (torch keys <-> Flax paths), both frameworks'
`model_for`, the backends' refusal of unsupported options and parity's cases all read it.
Framework-free: the modules are named by import path and imported by the framework asked.
"""
from __future__ import annotations

import dataclasses
from importlib import import_module
from typing import Callable


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model.

    name       the `--model` value
    summary    one line for --help and the docs
    options    the ModelConfig fields the model has besides field_num and feat_dim (every
               other field must keep its default)
    preset     option values ModelConfig.create fills in when left out (the seed preset:
               the configuration that gives the seed table's parameter count)
    defaults   what `dcnmix train` and dcnmix.train() fill in besides the preset
    layout     cfg -> [dcnmix.models.entries.Entry]: every tensor, torch key <-> Flax path, in
               the torch state_dict's order
    jax, torch the module class in each framework, 'package.module:Class'; called with
               **cfg.kwargs() (and, in JAX, the compute options in `jax_options`)
    nnx        the Flax NNX class (default: the linen class's name in dcnmix_jax.nnx), called
               as jax's plus rngs=
    jax_options  the JAX module's compute options (TrainConfig fields: mixture, dtype)
    supports   TrainConfig field (or 'mesh') -> the values the model trains with (absent: any)
    parity     parity case name -> options over the preset (default: the model in its preset)
    order      position in listings (dcn first)
    dense_concat  dense values may go into x0 as they are (a model with an x0); otherwise
               they are embedded fields (dcnmix.config.Inputs.dense_embedding)
    """

    name: str
    summary: str
    options: tuple[str, ...]
    layout: Callable
    jax: str
    torch: str
    preset: dict = dataclasses.field(default_factory=dict)
    defaults: dict = dataclasses.field(default_factory=dict)
    jax_options: tuple[str, ...] = ()
    supports: dict = dataclasses.field(default_factory=dict)
    parity: dict | None = None
    order: int = 100
    dense_concat: bool = False
    nnx: str = ""

    def __post_init__(self):
        if not self.nnx:
            object.__setattr__(self, "nnx", "dcnmix_jax.nnx:" + self.jax.partition(":")[2])

    def all_defaults(self) -> dict:
        """The values `dcnmix train` uses for the options a caller leaves out."""
        return {**self.defaults, **self.preset}

    def module(self, framework: str):
        """The model's class in `framework` ('jax', 'torch' or 'nnx'), imported now."""
        path, _, name = getattr(self, framework).partition(":")
        return getattr(import_module(path), name)

    def parity_cases(self) -> dict[str, dict]:
        return self.parity if self.parity is not None else {self.name: {}}


# what a model without a DCN's compute options trains with
PLAIN = {"embedding_optimizer": ("dense",), "dtype": ("float32", "float64"),
         "mixture": ("gemm",), "mesh": (False,)}
