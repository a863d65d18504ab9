"""Cross layers: DCN-Mix's mixture of low-rank experts and DCN-V2's full-rank layer.

All take x0, x_l of shape [B, M] and return x_{l+1} [B, M]; parameters are float32 and
`dtype` is the compute dtype.
"""
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from dcnmix.config import CROSS_TYPES, MIXTURES, Variant

from .init import cross_inits, standard_normal, xavier_normal
from .layers import TorchDense

ACTIVATION_FNS = {"none": lambda x: x, "relu": jax.nn.relu, "tanh": jnp.tanh,
                  "hard_tanh": lambda x: jnp.clip(x, -1.0, 1.0)}


def gate_weights(logits, gate: str, dtype):
    """Expert weights [B, K] from gate logits (None for the constant gate); the softmax or
    sigmoid runs in at least float32."""
    if gate == "constant":
        return None
    logits = logits.astype(jnp.promote_types(dtype, jnp.float32))
    w = jax.nn.softmax(logits, axis=-1) if gate == "softmax" else jax.nn.sigmoid(logits)
    return w.astype(dtype)


def make_gate(*, k: int, variant: Variant, m: int, dtype, name: str):
    """The gate's Linear(M, K) (a TorchDense); DeepCTR's and torchrec's K Linear(M, 1) are its columns."""
    return TorchDense(k, use_bias=variant.gate_bias, dtype=dtype,
                      kernel_init=cross_inits(variant.init_scheme, m, 1, k)["gate"], name=name)


class MixCross(nn.Module):
    """One DCN-Mix layer with K experts of rank r. The seed's MOECrossCell by default:

        w = softmax(x_l @ gate.kernel + gate.bias)                        [B, K]
        x_{l+1} = sum_i w_i * ((U_i (V_i^T x_l) + b_i) * x0) + x_l        [B, M]

    and, through the variant options (dcnmix.config.Variant), the paper's and the peers' forms:
    E_i = x0 * (U_i g(C_i g(V_i^T x_l)) + b), w from a softmax / sigmoid gate or 1/K, b per
    expert or per layer, g in {none, relu, tanh, hard_tanh}, C_i on or off, the gate given
    by the caller (`gate_logits`) when CrossNet shares one across layers.

    Parameters: u, v [K, M, r], b [K, M] (per expert) or bias [M] (per layer), c [K, r, r],
    gate {kernel [M, K], bias [K]}. All experts are computed together through the leading
    expert axis. `mixture` chooses the arithmetic form (equal in exact arithmetic):
      'gemm':    x0 * (sum_i w_i U_i h_i + bias term) + x_l, two GEMMs with no [B, K, M]
                 intermediate (default);
      'experts': the seed's order, expert outputs [B, K, M] weighted and summed.
    """

    r: int = 16
    k: int = 4
    mixture: str = "gemm"
    dtype: Any = None
    variant: Variant = Variant()

    @nn.compact
    def __call__(self, x0, xl, gate_logits=None):
        m, variant = xl.shape[-1], self.variant
        inits = cross_inits(variant.init_scheme, m, self.r, self.k)
        u = self.param("u", inits["u"], (self.k, m, self.r), jnp.float32)
        v = self.param("v", inits["v"], (self.k, m, self.r), jnp.float32)
        if variant.expert_bias:
            b = self.param("b", inits["bias"], (self.k, m), jnp.float32)
        else:
            b = self.param("bias", inits["bias"], (m,), jnp.float32)
        dtype = self.dtype or xl.dtype
        x0, xl, u, v, b = (a.astype(dtype) for a in (x0, xl, u, v, b))
        if variant.gate != "constant" and gate_logits is None:
            gate_logits = make_gate(k=self.k, variant=variant, m=m, dtype=dtype, name="gate")(xl)
        w = gate_weights(gate_logits, variant.gate, dtype)  # [B, K] or None (1/K)
        g = ACTIVATION_FNS[variant.activation]
        h = jnp.einsum("bm,kmr->bkr", xl, v)  # V_i^T x_l for every expert: one GEMM
        if variant.c_matrix:
            c = self.param("c", inits["c"], (self.k, self.r, self.r), jnp.float32).astype(dtype)
            h = jnp.einsum("bkr,ksr->bks", g(h), c)
        h = g(h)
        if w is None:
            w = jnp.full((xl.shape[0], self.k), 1.0 / self.k, dtype)
        if self.mixture == "gemm":
            bias = w @ b if variant.expert_bias else jnp.sum(w, axis=1, keepdims=True) * b
            return x0 * (jnp.einsum("bkr,kmr->bm", h * w[:, :, None], u) + bias) + xl
        if self.mixture == "experts":
            experts = (jnp.einsum("bkr,kmr->bkm", h, u) + (b[None] if variant.expert_bias else b)) \
                * x0[:, None, :]
            return jnp.einsum("bk,bkm->bm", w, experts) + xl
        raise ValueError(f"unknown mixture form {self.mixture!r} (expected one of {MIXTURES})")


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
    The variant options (dcnmix.config.Variant, presets in dcnmix.config.PRESETS) go to every
    MixCross; with shared_gates one gate, `gate` {kernel [M, K], bias [K]}, weighs the
    experts of every layer. Usable on its own inside any Flax model: CrossNet(order_num=2)(x0),
    CrossNet(order_num=2, variant=PRESETS['deepctr'])(x0).
    """

    order_num: int
    r: int = 16
    k: int = 4
    cross: str = "mix"
    mixture: str = "gemm"
    dtype: Any = None
    variant: Variant = Variant()

    @nn.compact
    def __call__(self, x0):
        if self.cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {self.cross!r} (expected one of {CROSS_TYPES})")
        variant, shared = self.variant, None
        if self.cross == "mix" and variant.shared_gates and variant.gate != "constant":
            shared = make_gate(k=self.k, variant=variant, m=x0.shape[-1], dtype=self.dtype or x0.dtype,
                               name="gate")
        xl = x0
        for i in range(self.order_num):
            if self.cross == "mix":
                layer = MixCross(r=self.r, k=self.k, mixture=self.mixture, dtype=self.dtype,
                                 variant=variant, name=f"layers_{i}")
                xl = layer(x0, xl, None if shared is None else shared(xl))
            else:
                xl = FullCross(dtype=self.dtype, name=f"layers_{i}")(x0, xl)
        return xl
