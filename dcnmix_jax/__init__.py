"""dcnmix_jax: DCN-Mix (mixture of low-rank cross experts) as Flax linen modules.

The model classes are imported lazily so that `dcnmix_jax.data` (numpy only) can be used
without importing or initialising JAX.
"""
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "DCN": "dcnmix_jax.model", "DNN": "dcnmix_jax.model", "checked_apply": "dcnmix_jax.model",
    "CrossNet": "dcnmix_jax.cross",
    "MixCross": "dcnmix_jax.cross", "FullCross": "dcnmix_jax.cross",
    "TorchBatchNorm": "dcnmix_jax.batchnorm",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcnmix_jax' has no attribute {name!r}")


__all__ = sorted(_LAZY)
