"""dcnmix_jax.nnx: every registered model, and the cross network's parts, as Flax NNX
modules - the same argument names, defaults, initialisers and arithmetic as the linen
modules (dcnmix_jax), plus `rngs=`; weights move exactly both ways (from_linen, to_linen)
and, through linen's layout, to and from the PyTorch twin.

    from flax import nnx
    from dcnmix_jax.nnx import DCN
    model = DCN(10, 72, 16, 2, rngs=nnx.Rngs(0))    # field_num, feat_dim, emb_num, order_num
    probs = model(ids)                              # eval mode until model.train()

docs/model.md says when to pick NNX or linen, and how to put CrossNet inside an own model.
"""
from importlib import import_module

_LAZY = {
    "DCN": "model", "CrossNetModel": "model", "DNN": "model",
    "CrossNet": "cross", "MixCross": "cross", "FullCross": "cross", "Expert": "cross",
    "TorchDense": "layers", "TorchBatchNorm": "layers", "Dropout": "layers",
    "FieldEmbedding": "layers",
    "FM": "baselines", "FFM": "baselines", "PNN": "baselines", "DeepFM": "baselines",
    "NFM": "baselines", "DNNModel": "baselines", "Tower": "baselines",
    "DCNv1": "table6", "XDeepFM": "table6", "AutoInt": "table6", "DLRM": "table6",
    "from_linen": "convert", "to_linen": "convert",
    "model_for": "build", "from_arrays": "build", "unfilled": "build",
    "train_step": "steps", "fast_step": "steps", "loss_fn": "steps", "predict": "steps",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dcnmix_jax.nnx' has no attribute {name!r}")


__all__ = sorted(_LAZY)
