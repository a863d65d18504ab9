"""dcnmix: DCN-Mix in JAX/Flax with an exact PyTorch twin. This package is the
framework-neutral core (config, data, run folder, weights format, loop, CLI); it imports
neither JAX nor torch. The models live in dcnmix_jax (Flax) and dcnmix_torch (the twin).

    import dcnmix
    summary, folder = dcnmix.train({"order_num": 2}, "synthetic", out="runs/demo",
                                   train_config=dcnmix.TrainConfig(epochs=3))
"""
from importlib import import_module

__version__ = "0.2.0"

_LAZY = {
    "ModelConfig": "dcnmix.config", "TrainConfig": "dcnmix.config", "Variant": "dcnmix.config",
    "PRESETS": "dcnmix.config", "MODELS": "dcnmix.config", "Inputs": "dcnmix.config",
    "DataOptions": "dcnmix.data.options",
    "Dataset": "dcnmix.data", "DataSpec": "dcnmix.data", "DataError": "dcnmix.data",
    "load_splits": "dcnmix.data",
    "train": "dcnmix.loop", "fit": "dcnmix.loop", "Trained": "dcnmix.loop",
    "RunFolder": "dcnmix.run", "load_run": "dcnmix.inference", "LoadedRun": "dcnmix.inference",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dcnmix' has no attribute {name!r}")


__all__ = sorted(_LAZY)
