"""The cross network as NNX modules: MixCross (gemm, experts or vmap form), Expert,
FullCross, CrossNet - the twins of dcnmix_jax.cross, computing through its functions."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import nnx

from dcnmix.config import CROSS_TYPES, MIXTURES, Variant

from ..cross import ACTIVATION_FNS, expert_inputs, expert_output, gate_weights, mix, mixed, uniform_weights
from ..init import cross_inits, standard_normal, xavier_normal
from .layers import TorchDense, param, value


def make_gate(in_features: int, *, k: int, variant: Variant, dtype, rngs: nnx.Rngs) -> TorchDense:
    """The gate's Linear(M, K), as dcnmix_jax.cross.make_gate."""
    return TorchDense(in_features, k, use_bias=variant.gate_bias, dtype=dtype,
                      kernel_init=cross_inits(variant.init_scheme, in_features, 1, k)["gate"], rngs=rngs)


class Expert(nnx.Module):
    """One low-rank expert (u, v [M, r], b [M] when per expert, c [r, r] with the C matrix):
    `__call__(x0, xl, bias)` -> E_i [B, M]. MixCross(mixture='vmap') holds K of them created
    with nnx.vmap (parameters stacked on axis 0, rngs split per expert)."""

    def __init__(self, in_features: int, *, r: int = 16, k: int = 4, dtype: Any = None,
                 variant: Variant = Variant(), rngs: nnx.Rngs):
        inits = cross_inits(variant.init_scheme, in_features, r, k)
        self.u = param(inits["u"], rngs, (in_features, r))
        self.v = param(inits["v"], rngs, (in_features, r))
        self.b = param(inits["bias"], rngs, (in_features,)) if variant.expert_bias else None
        self.c = param(inits["c"], rngs, (r, r)) if variant.c_matrix else None
        self.dtype, self.activation = dtype, variant.activation

    def __call__(self, x0, xl, bias=None):
        dtype = self.dtype or xl.dtype
        cast = (lambda a: None if a is None else a.astype(dtype))
        b = value(self.b) if self.b is not None else bias
        return expert_output(x0.astype(dtype), xl.astype(dtype), u=cast(self.u[...]),
                             v=cast(self.v[...]), b=cast(b), c=cast(value(self.c)),
                             activation=self.activation)


class MixCross(nnx.Module):
    """One DCN-Mix layer with K experts of rank r (dcnmix_jax.cross.MixCross: formula and
    variant options there). Parameters u, v [K, M, r], b [K, M] or bias [M], c [K, r, r] and
    the gate, or, with mixture='vmap', `experts` (K Experts, the same leaves stacked) and the
    layer's bias. The gate is the layer's own unless the variant shares one (CrossNet's).

        layer = MixCross(160, r=16, k=4, rngs=nnx.Rngs(0))
        x1 = layer(x0, x0)
    """

    def __init__(self, in_features: int, *, r: int = 16, k: int = 4, mixture: str = "gemm",
                 dtype: Any = None, variant: Variant = Variant(), rngs: nnx.Rngs):
        if mixture not in MIXTURES:
            raise ValueError(f"unknown mixture form {mixture!r} (expected one of {MIXTURES})")
        if variant.activation not in ACTIVATION_FNS:
            raise ValueError(f"unknown activation {variant.activation!r}")
        self.k, self.mixture, self.dtype, self.variant = k, mixture, dtype, variant
        inits = cross_inits(variant.init_scheme, in_features, r, k)
        if mixture == "vmap":
            self.experts = _experts(in_features, r=r, k=k, dtype=dtype, variant=variant, rngs=rngs)
        else:
            self.u = param(inits["u"], rngs, (k, in_features, r))
            self.v = param(inits["v"], rngs, (k, in_features, r))
            if variant.expert_bias:
                self.b = param(inits["bias"], rngs, (k, in_features))
            self.c = param(inits["c"], rngs, (k, r, r)) if variant.c_matrix else None
        if not variant.expert_bias:
            self.bias = param(inits["bias"], rngs, (in_features,))
        own_gate = variant.gate != "constant" and not variant.shared_gates
        self.gate = make_gate(in_features, k=k, variant=variant, dtype=dtype, rngs=rngs) if own_gate else None

    def __call__(self, x0, xl, gate_logits=None):
        dtype = self.dtype or xl.dtype
        x0, xl = x0.astype(dtype), xl.astype(dtype)
        w = self.weights(xl, gate_logits, dtype)
        bias = self.bias[...].astype(dtype) if not self.variant.expert_bias else None
        if self.mixture == "vmap":
            return mixed(xl, _run_experts(self.experts, x0, xl, bias), w)
        cast = (lambda a: None if a is None else a.astype(dtype))
        h = expert_inputs(xl, cast(self.v[...]), cast(value(self.c)), self.variant.activation)
        b = cast(self.b[...]) if self.variant.expert_bias else bias
        return mix(x0, xl, h=h, u=cast(self.u[...]), b=b, w=w,
                   expert_bias=self.variant.expert_bias, mixture=self.mixture)

    def weights(self, xl, gate_logits, dtype):
        """The expert weights [B, K]: this layer's gate's, the shared gate's or 1/K."""
        if self.variant.gate != "constant" and gate_logits is None:
            if self.gate is None:
                raise ValueError("this layer's variant shares one gate across layers: pass gate_logits")
            gate_logits = self.gate(xl)
        w = gate_weights(gate_logits, self.variant.gate, dtype)
        return uniform_weights(xl.shape[0], self.k, dtype) if w is None else w


def _experts(in_features: int, *, r: int, k: int, dtype, variant: Variant, rngs: nnx.Rngs):
    """K Experts as one module, parameters stacked on axis 0 (nnx.vmap, the rngs split per expert)."""
    @nnx.split_rngs(splits=k)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def create(rngs):
        return Expert(in_features, r=r, k=k, dtype=dtype, variant=variant, rngs=rngs)
    return create(rngs)


@nnx.vmap(in_axes=(0, None, None, None), out_axes=1)
def _run_experts(experts, x0, xl, bias):
    """Every expert's E_i: [B, K, M]."""
    return experts(x0, xl, bias)


class FullCross(nnx.Module):
    """DCN-V2's full-rank cross layer: x_{l+1} = x0 * (x_l @ kernel + bias) + x_l."""

    def __init__(self, in_features: int, *, dtype: Any = None, rngs: nnx.Rngs):
        self.kernel = param(xavier_normal, rngs, (in_features, in_features))
        self.bias = param(standard_normal, rngs, (in_features,))
        self.dtype = dtype

    def __call__(self, x0, xl):
        dtype = self.dtype or xl.dtype
        x0, xl = x0.astype(dtype), xl.astype(dtype)
        return x0 * (xl @ self.kernel[...].astype(dtype) + self.bias[...].astype(dtype)) + xl


class CrossNet(nnx.Module):
    """order_num cross layers on x0 [B, in_features] -> [B, in_features]: MixCross
    (cross='mix', DCN-Mix) or FullCross ('full', DCN-V2), layers `layers_0`, `layers_1`, ...
    and, when the variant shares one, `gate`. The twin of dcnmix_jax.cross.CrossNet.

        cross = CrossNet(160, order_num=2, rngs=nnx.Rngs(0))
        x = cross(x0)                            # [B, 160]
    """

    def __init__(self, in_features: int, order_num: int, *, r: int = 16, k: int = 4,
                 cross: str = "mix", mixture: str = "gemm", dtype: Any = None,
                 variant: Variant = Variant(), rngs: nnx.Rngs):
        if cross not in CROSS_TYPES:
            raise ValueError(f"unknown cross type: {cross!r} (expected one of {CROSS_TYPES})")
        self.order_num, self.cross = order_num, cross
        shared = cross == "mix" and variant.shared_gates and variant.gate != "constant"
        self.gate = make_gate(in_features, k=k, variant=variant, dtype=dtype, rngs=rngs) if shared else None
        for i in range(order_num):
            layer = (MixCross(in_features, r=r, k=k, mixture=mixture, dtype=dtype, variant=variant,
                              rngs=rngs) if cross == "mix" else
                     FullCross(in_features, dtype=dtype, rngs=rngs))
            setattr(self, f"layers_{i}", layer)

    def __call__(self, x0):
        xl = x0
        for i in range(self.order_num):
            layer = getattr(self, f"layers_{i}")
            if self.cross == "mix":
                xl = layer(x0, xl, None if self.gate is None else self.gate(xl))
            else:
                xl = layer(x0, xl)
        return xl
