"""dcnmix_jax: DCN-Mix (mixture of low-rank cross experts) as Flax linen modules; the seed
table's baselines in dcnmix_jax.baselines; every model as Flax NNX modules in dcnmix_jax.nnx.

The model classes are imported lazily, so that `import dcnmix_jax` costs nothing until one
is used. Importing it keeps freed host memory in the process (glibc's allocator reuses a
jitted step's scratch buffers instead of page-faulting them in on every call: a plain jitted
loop runs as fast as the library's trainer); DCNMIX_KEEP_FREED_MEMORY=0 leaves the allocator
alone (dcnmix_jax.host_memory, docs/speed.md).
"""
from importlib import import_module

from .host_memory import by_default as _keep_freed_memory_by_default

__version__ = "0.2.0"

_LAZY = {
    "DCN": "dcnmix_jax.model", "DNN": "dcnmix_jax.model", "checked_apply": "dcnmix_jax.model",
    "model_for": "dcnmix_jax.model",
    "CrossNet": "dcnmix_jax.cross", "MixCross": "dcnmix_jax.cross", "FullCross": "dcnmix_jax.cross",
    "Expert": "dcnmix_jax.cross", "VmapMixCross": "dcnmix_jax.cross",
    "TorchBatchNorm": "dcnmix_jax.batchnorm",
    "TrainState": "dcnmix_jax.steps", "create_state": "dcnmix_jax.steps",
    "train_step": "dcnmix_jax.steps", "step": "dcnmix_jax.steps",
    "train_steps": "dcnmix_jax.steps", "torch_adam": "dcnmix_jax.optim",
    "keep_freed_memory": "dcnmix_jax.host_memory",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcnmix_jax' has no attribute {name!r}")


__all__ = sorted(_LAZY)

applied_on_import = _keep_freed_memory_by_default()
