"""dcnmix_torch: the PyTorch twin of the seed's DCN-Mix code (see dcnmix_torch.model).

The classes are imported lazily, so that `import dcnmix_torch.backend` (the backend plug-in)
costs nothing until a model is used.
"""
from importlib import import_module

_NAMES = ("DCN", "DNN", "CrossCell", "CrossNet", "Embedding", "FullCrossCell", "MOECrossCell",
          "count_params", "model_for")


def __getattr__(name):
    if name in _NAMES:
        return getattr(import_module("dcnmix_torch.model"), name)
    raise AttributeError(f"module 'dcnmix_torch' has no attribute {name!r}")


__all__ = sorted(_NAMES)
