"""The model registry: every model dcnmix trains, each declared once (dcnmix.models.spec).

    from dcnmix.models import spec, names
    spec("deepfm").preset          # {'emb_num': 16, 'hidden_nums': (64, 16)}

A new model is a declaration module here (found by itself: any module of this package with
SPECS) plus its module in each framework; see docs/development.md.
"""
from __future__ import annotations

import pkgutil
from importlib import import_module

from .spec import PLAIN, ModelSpec

_HELPERS = ("spec", "entries")


def _discover() -> dict[str, ModelSpec]:
    found: list[ModelSpec] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _HELPERS:
            found += getattr(import_module(f"{__name__}.{info.name}"), "SPECS", ())
    found.sort(key=lambda s: (s.order, s.name))
    registry = {}
    for s in found:
        if s.name in registry:
            raise ValueError(f"model {s.name!r} is declared twice")
        registry[s.name] = s
    return registry


REGISTRY = _discover()


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r} (expected one of {names()})")
    return REGISTRY[name]


def linear_weights(cfg) -> list:
    """The layout entries (dcnmix.models.entries.Entry) of every Linear layer's weight of a
    model (torch [out, in], Flax [in, out]): what `--init he_normal` draws anew."""
    return [e for e in spec(cfg.model).layout(cfg) if e.transform == "transpose"]


__all__ = ["ModelSpec", "PLAIN", "REGISTRY", "linear_weights", "names", "spec"]
