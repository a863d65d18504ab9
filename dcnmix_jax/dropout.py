"""Dropout with masks from a counter-based hash: the DNN tower's dropout.

    keep(i) = lowbias32(lowbias32(i XOR w0) + w1) >= round(rate * 2^32)
    y = where(keep, x / (1 - rate), 0)

i is the element's index in x (row-major), w0 and w1 two 32-bit words drawn once per call from
the 'dropout' rng (flax's make_rng, so the key schedule is flax's), lowbias32 a 32-bit integer
hash (Wellons' two-multiply finaliser; a bijection). The drop probability is
round(rate * 2^32) / 2^32; different keys give unrelated masks (the seed enters both rounds).
About 16 integer operations per element where flax's nn.Dropout draws a threefry word per
element: on the seed configuration the train step is ~20% faster (benchmarks/step_profile.py,
RESULTS.md "Speed, round two"). torch's dropout draws from its own generator, so masks never
match across frameworks; parity compares dropout runs by their AUC over seeds.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn


def lowbias32(h):
    """Wellons' lowbias32 integer hash of uint32 values."""
    h = (h ^ (h >> 16)) * jnp.uint32(0x7FEB352D)
    h = (h ^ (h >> 15)) * jnp.uint32(0x846CA68B)
    return h ^ (h >> 16)


def keep_mask(key, shape, rate: float):
    """Boolean keep mask of `shape`: True with probability 1 - round(rate * 2^32) / 2^32."""
    w = jax.random.bits(key, (2,), jnp.uint32)
    size = 1
    for n in shape:
        size *= n
    index = jax.lax.iota(jnp.uint32, size).reshape(shape)
    threshold = jnp.uint32(min(round(rate * 2.0 ** 32), 2 ** 32 - 1))
    return lowbias32(lowbias32(index ^ w[0]) + w[1]) >= threshold


def dropout(x, keep, key, rate: float):
    """x with each element zeroed with probability `rate` (mask keep(key, shape)), the rest
    scaled by 1 / (1 - rate)."""
    if rate >= 1.0:
        return jnp.zeros_like(x)
    return jnp.where(keep(key, x.shape), x / (1.0 - rate), jnp.zeros_like(x))


class Dropout(nn.Module):
    """Inverted dropout (as nn.Dropout: zero with probability `rate`, scale the rest by
    1 / (1 - rate)) whose mask is keep_mask of the 'dropout' rng; identity when
    `deterministic` or rate 0."""

    rate: float
    deterministic: bool = False

    @nn.compact
    def __call__(self, x):
        if self.deterministic or self.rate == 0:
            return x
        return dropout(x, self.keep, self.make_rng("dropout"), self.rate)

    def keep(self, key, shape):
        """The keep mask (a subclass may draw it another way: benchmarks/step_profile.py)."""
        return keep_mask(key, shape, self.rate)
