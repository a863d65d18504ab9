"""Initialisers with the seed's (torch's) distributions.

xavier_normal: torch.nn.init.xavier_normal_, N(0, 2 / (fan_in + fan_out)), untruncated
(written out here: flax's and jax's names for the normal variants changed across versions).
The last two axes are the matrix; leading axes are batch axes, so stacked expert weights
[K, M, r] give each expert torch's per-matrix variance 2 / (M + r).
"""
import jax
import jax.numpy as jnp


def xavier_normal(key, shape, dtype=jnp.float32):
    """Untruncated N(0, 2 / (shape[-2] + shape[-1]))."""
    std = (2.0 / (shape[-2] + shape[-1])) ** 0.5
    return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)


def standard_normal(key, shape, dtype=jnp.float32):
    """N(0, 1), torch.randn."""
    return jax.random.normal(key, shape, dtype)


def torch_linear_bias(fan_in: int):
    """torch.nn.Linear's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / fan_in ** 0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init
