"""Small building blocks shared by the cross network and the DNN tower."""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from .init import torch_linear_bias, xavier_normal

Dtype = Any


class TorchDense(nn.Module):
    """y = x @ kernel + bias, kernel [in, out] xavier normal, bias as torch's Linear.

    Parameters stay float32; `dtype` is the compute dtype (e.g. bfloat16 on accelerators).
    """

    features: int
    use_bias: bool = True
    dtype: Dtype | None = None
    kernel_init: Any = xavier_normal

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (fan_in, self.features), jnp.float32)
        bias = (self.param("bias", torch_linear_bias(fan_in), (self.features,), jnp.float32)
                if self.use_bias else None)
        return dense(x, kernel, bias, self.dtype)


def dense(x, kernel, bias=None, dtype: Dtype | None = None):
    """x @ kernel (+ bias) in the compute dtype (default x's)."""
    dtype = dtype or x.dtype
    y = jnp.dot(x.astype(dtype), kernel.astype(dtype))
    return y if bias is None else y + bias.astype(dtype)
