"""Cross layers: DCN-Mix's mixture of low-rank experts and DCN-V2's full-rank layer.

All take x0, x_l of shape [B, M] and return x_{l+1} [B, M]; parameters are float32 and
`dtype` is the compute dtype.
"""
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from .init import standard_normal, xavier_normal
from .layers import TorchDense

from .config import CROSS_TYPES
MIXTURE_FORMS = ("gemm", "experts")


class MixCross(nn.Module):
    """One DCN-Mix layer (the seed's MOECrossCell) with K experts of rank r:

        g = softmax(x_l @ gate.kernel + gate.bias)                        [B, K]
        x_{l+1} = sum_i g_i * ((U_i (V_i^T x_l) + b_i) * x0) + x_l        [B, M]

    Parameters: u, v [K, M, r], b [K, M], gate {kernel [M, K], bias [K]}. All experts are
    computed together through the leading expert axis, never a Python loop. `mixture`
    chooses the arithmetic form (both equal in exact arithmetic):
      'gemm':    x0 * (sum_i g_i U_i V_i^T x_l + g @ b) + x_l, two GEMMs with no [B, K, M]
                 intermediate (default);
      'experts': the seed's order, expert outputs [B, K, M] weighted and summed.
    """

    r: int = 16
    k: int = 4
    mixture: str = "gemm"
    dtype: Any = None

    @nn.compact
    def __call__(self, x0, xl):
        m = xl.shape[-1]
        u = self.param("u", xavier_normal, (self.k, m, self.r), jnp.float32)
        v = self.param("v", xavier_normal, (self.k, m, self.r), jnp.float32)
        b = self.param("b", standard_normal, (self.k, m), jnp.float32)
        dtype = self.dtype or xl.dtype
        x0, xl, u, v, b = (a.astype(dtype) for a in (x0, xl, u, v, b))
        logits = TorchDense(self.k, dtype=dtype, name="gate")(xl)
        g = jax.nn.softmax(logits.astype(jnp.promote_types(dtype, jnp.float32)), axis=-1).astype(dtype)  # [B, K]
        h = jnp.einsum("bm,kmr->bkr", xl, v)  # V_i^T x_l for every expert: one GEMM
        if self.mixture == "gemm":
            mixed = jnp.einsum("bkr,kmr->bm", h * g[:, :, None], u) + g @ b
            return x0 * mixed + xl
        if self.mixture == "experts":
            experts = (jnp.einsum("bkr,kmr->bkm", h, u) + b[None]) * x0[:, None, :]
            return jnp.einsum("bk,bkm->bm", g, experts) + xl
        raise ValueError(f"unknown mixture form {self.mixture!r} (expected one of {MIXTURE_FORMS})")


class FullCross(nn.Module):
    """DCN-V2's full-rank cross layer: x_{l+1} = x0 * (x_l @ kernel + bias) + x_l.

    kernel [M, M] is torch's W transposed (W x_l == x_l @ W^T); bias [M] ~ N(0, 1).
    """

    dtype: Any = None

    @nn.compact
    def __call__(self, x0, xl):
        m = xl.shape[-1]
        kernel = self.param("kernel", xavier_normal, (m, m), jnp.float32)
        bias = self.param("bias", standard_normal, (m,), jnp.float32)
        dtype = self.dtype or xl.dtype
        x0, xl = x0.astype(dtype), xl.astype(dtype)
        return x0 * (xl @ kernel.astype(dtype) + bias.astype(dtype)) + xl


class CrossNet(nn.Module):
    """order_num cross layers on a dense input x0 [B, M] -> [B, M].

    cross='mix' stacks MixCross layers (DCN-Mix), cross='full' FullCross layers (DCN-V2).
    Usable on its own inside any Flax model: CrossNet(order_num=2)(x0).
    """

    order_num: int
    r: int = 16
    k: int = 4
    cross: str = "mix"
    mixture: str = "gemm"
    dtype: Any = None

    @nn.compact
    def __call__(self, x0):
        if self.cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {self.cross!r} (expected one of {CROSS_TYPES})")
        xl = x0
        for i in range(self.order_num):
            if self.cross == "mix":
                layer = MixCross(self.r, self.k, self.mixture, self.dtype, name=f"layers_{i}")
            else:
                layer = FullCross(self.dtype, name=f"layers_{i}")
            xl = layer(x0, xl)
        return xl
