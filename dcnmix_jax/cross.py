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


def expert_inputs(xl, v, c, activation: str):
    """g(C_i g(V_i^T x_l)) (or g(V_i^T x_l) without C) of every expert: [B, K, r] from
    v [K, M, r] and c [K, r, r] (or None); one GEMM for all experts."""
    g = ACTIVATION_FNS[activation]
    h = jnp.einsum("bm,kmr->bkr", xl, v)
    if c is not None:
        h = jnp.einsum("bkr,ksr->bks", g(h), c)
    return g(h)


def mixed(xl, experts, w):
    """sum_i w_i E_i + x_l of the experts' outputs [B, K, M] and weights w [B, K]."""
    return jnp.einsum("bk,bkm->bm", w, experts) + xl


def mix(x0, xl, *, h, u, b, w, expert_bias: bool, mixture: str):
    """x_{l+1} of one mixture layer from the experts' inputs h [B, K, r], u [K, M, r], the
    bias (b [K, M] per expert or [M] per layer) and the expert weights w [B, K]:
      'gemm':    x0 * (sum_i w_i U_i h_i + bias term) + x_l, two GEMMs with no [B, K, M]
                 intermediate;
      'experts': the seed's order, expert outputs [B, K, M] weighted and summed."""
    if mixture == "gemm":
        bias = w @ b if expert_bias else jnp.sum(w, axis=1, keepdims=True) * b
        return x0 * (jnp.einsum("bkr,kmr->bm", h * w[:, :, None], u) + bias) + xl
    if mixture == "experts":
        experts = (jnp.einsum("bkr,kmr->bkm", h, u) + (b[None] if expert_bias else b)) \
            * x0[:, None, :]
        return mixed(xl, experts, w)
    raise ValueError(f"unknown mixture form {mixture!r} (expected one of {MIXTURES})")


def expert_output(x0, xl, *, u, v, b, c, activation: str):
    """One expert E_i = (U_i g(C_i g(V_i^T x_l)) + b) * x0, [B, M], from its own u, v [M, r],
    b [M] and c [r, r] (or None): the body the 'vmap' form maps over the K experts."""
    g = ACTIVATION_FNS[activation]
    h = xl @ v
    if c is not None:
        h = g(h) @ c.T
    return (g(h) @ u.T + b) * x0


def uniform_weights(batch: int, k: int, dtype):
    """The constant gate's weights 1/K, [B, K]."""
    return jnp.full((batch, k), 1.0 / k, dtype)


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
    expert axis. `mixture` chooses the arithmetic form (equal in exact arithmetic; `mix`):
    'gemm' (default) or 'experts'; the third form, 'vmap', is VmapMixCross (CrossNet picks it).
    """

    r: int = 16
    k: int = 4
    mixture: str = "gemm"
    dtype: Any = None
    variant: Variant = Variant()

    @nn.compact
    def __call__(self, x0, xl, gate_logits=None):
        if self.mixture not in MIXTURES or self.mixture == "vmap":
            raise ValueError(f"MixCross computes mixture 'gemm' or 'experts', not {self.mixture!r} "
                             "(the 'vmap' form is VmapMixCross)")
        m, variant = xl.shape[-1], self.variant
        inits = cross_inits(variant.init_scheme, m, self.r, self.k)
        u = self.param("u", inits["u"], (self.k, m, self.r), jnp.float32)
        v = self.param("v", inits["v"], (self.k, m, self.r), jnp.float32)
        if variant.expert_bias:
            b = self.param("b", inits["bias"], (self.k, m), jnp.float32)
        else:
            b = self.param("bias", inits["bias"], (m,), jnp.float32)
        c = (self.param("c", inits["c"], (self.k, self.r, self.r), jnp.float32)
             if variant.c_matrix else None)
        dtype = self.dtype or xl.dtype
        x0, xl, u, v, b = (a.astype(dtype) for a in (x0, xl, u, v, b))
        w = _weights(self, xl, gate_logits, m, dtype)
        h = expert_inputs(xl, v, None if c is None else c.astype(dtype), variant.activation)
        return mix(x0, xl, h=h, u=u, b=b, w=w, expert_bias=variant.expert_bias,
                   mixture=self.mixture)


def _weights(layer, xl, gate_logits, m: int, dtype):
    """The expert weights [B, K] of a mixture layer: its own gate's, the shared gate's
    (gate_logits) or 1/K."""
    variant = layer.variant
    if variant.gate != "constant" and gate_logits is None:
        gate_logits = make_gate(k=layer.k, variant=variant, m=m, dtype=dtype, name="gate")(xl)
    w = gate_weights(gate_logits, variant.gate, dtype)
    return uniform_weights(xl.shape[0], layer.k, dtype) if w is None else w


class Expert(nn.Module):
    """One low-rank expert: u, v [M, r], b [M] (when per expert), c [r, r] (with the C
    matrix); `__call__(x0, xl, bias)` -> E_i [B, M] (expert_output; `bias` is the layer's
    shared bias when experts have none of their own). VmapMixCross maps it over K."""

    r: int = 16
    k: int = 4
    dtype: Any = None
    variant: Variant = Variant()

    @nn.compact
    def __call__(self, x0, xl, bias=None):
        m, variant = xl.shape[-1], self.variant
        inits = cross_inits(variant.init_scheme, m, self.r, self.k)
        u = self.param("u", inits["u"], (m, self.r), jnp.float32)
        v = self.param("v", inits["v"], (m, self.r), jnp.float32)
        b = self.param("b", inits["bias"], (m,), jnp.float32) if variant.expert_bias else bias
        c = self.param("c", inits["c"], (self.r, self.r), jnp.float32) if variant.c_matrix else None
        dtype = self.dtype or xl.dtype
        cast = (lambda a: None if a is None else a.astype(dtype))
        return expert_output(x0.astype(dtype), xl.astype(dtype), u=cast(u), v=cast(v), b=cast(b),
                             c=cast(c), activation=variant.activation)


EXPERT_LEAVES = ("u", "v", "b", "c")


def nest_experts(tree: dict) -> dict:
    """A mixture layer's flat parameters (MixCross's layout: u, v, b, c beside gate, bias) ->
    the vmap form's, the experts' leaves under `experts`; nest_experts(flat_experts(t)) == t."""
    tree = dict(tree)
    experts = {k: tree.pop(k) for k in EXPERT_LEAVES if k in tree}
    return {**tree, "experts": experts} if experts else tree


def flat_experts(tree: dict) -> dict:
    """The inverse of nest_experts."""
    tree = dict(tree)
    experts = dict(tree.pop("experts", {}))
    return {**tree, **experts}


def _vmapped_layout(collections: dict) -> dict:
    return {c: nest_experts(t) if c == "params" else t for c, t in collections.items()}


def _flat_layout(collections: dict) -> dict:
    return {c: flat_experts(t) if c == "params" else t for c, t in collections.items()}


class _VmapMix(nn.Module):
    """The vmap form's body: Expert lifted with nn.vmap over K (parameters stacked on axis 0,
    init rngs split per expert), the experts' outputs [B, K, M] weighted by the gate."""

    r: int = 16
    k: int = 4
    dtype: Any = None
    variant: Variant = Variant()

    @nn.compact
    def __call__(self, x0, xl, gate_logits=None):
        m, variant = xl.shape[-1], self.variant
        dtype = self.dtype or xl.dtype
        bias = None
        if not variant.expert_bias:
            bias = self.param("bias", cross_inits(variant.init_scheme, m, self.r, self.k)["bias"],
                              (m,), jnp.float32).astype(dtype)
        experts = nn.vmap(Expert, variable_axes={"params": 0}, split_rngs={"params": True},
                          in_axes=None, out_axes=1, axis_size=self.k)
        out = experts(r=self.r, k=self.k, dtype=self.dtype, variant=variant, name="experts")(
            x0, xl, bias)
        xl = xl.astype(dtype)
        return mixed(xl, out, _weights(self, xl, gate_logits, m, dtype))


VmapMixCross = nn.map_variables(_VmapMix, "params", trans_in_fn=_vmapped_layout,
                                trans_out_fn=_flat_layout, mutable=True)
VmapMixCross.__doc__ = """mixture='vmap': one Expert module mapped over the K experts with
nn.vmap (variable_axes={'params': 0}, split rngs), the outputs weighted by the gate. Its
parameters have MixCross's layout (u, v [K, M, r], b [K, M], c, gate, bias: nn.map_variables
moves the experts' leaves out of the vmapped scope), so weights move between the forms;
equal to 'gemm' within float rounding."""


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
                layer = mix_cross(r=self.r, k=self.k, mixture=self.mixture, dtype=self.dtype,
                                  variant=variant, name=f"layers_{i}")
                xl = layer(x0, xl, None if shared is None else shared(xl))
            else:
                xl = FullCross(dtype=self.dtype, name=f"layers_{i}")(x0, xl)
        return xl


def mix_cross(*, mixture: str = "gemm", **kwargs) -> nn.Module:
    """The mixture layer of a form: VmapMixCross for 'vmap', else MixCross(mixture=...)."""
    if mixture == "vmap":
        return VmapMixCross(**kwargs)
    return MixCross(mixture=mixture, **kwargs)
