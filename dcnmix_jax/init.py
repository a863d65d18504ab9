"""Initialisers with the seed's (torch's) distributions.

xavier_normal: torch.nn.init.xavier_normal_, N(0, 2 / (fan_in + fan_out)), untruncated
(written out here: flax's and jax's names for the normal variants changed across versions).
The last two axes are the matrix; leading axes are batch axes, so stacked expert weights
[K, M, r] give each expert torch's per-matrix variance 2 / (M + r).
"""
import jax
import jax.numpy as jnp

from dcnmix.models.dcn import peer_init_stds


def xavier_normal(key, shape, dtype=jnp.float32):
    """Untruncated N(0, 2 / (shape[-2] + shape[-1]))."""
    std = (2.0 / (shape[-2] + shape[-1])) ** 0.5
    return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)


def xavier_uniform_3d(key, shape, dtype=jnp.float32):
    """torch.nn.init.xavier_uniform_ of a 3-D tensor [a, b, c]: torch's fans are
    fan_in = b c, fan_out = a c, and the bound sqrt(6 / (fan_in + fan_out))."""
    a, b, c = shape
    bound = (6.0 / (b * c + a * c)) ** 0.5
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def standard_normal(key, shape, dtype=jnp.float32):
    """N(0, 1), torch.randn."""
    return jax.random.normal(key, shape, dtype)


def torch_linear_bias(fan_in: int):
    """torch.nn.Linear's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / fan_in ** 0.5

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def normal(std: float):
    """N(0, std^2), untruncated."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)
    return init


def zeros(key, shape, dtype=jnp.float32):
    return jnp.zeros(shape, dtype)


def cross_inits(scheme: str, m: int, r: int, k: int) -> dict:
    """Initialisers of a MixCross layer's u, v [K, M, r], c [K, r, r], bias and gate kernel
    [M, K] under an initialisation scheme (config.INITS):

      seed:     xavier normal per expert matrix, biases N(0, 1), gate kernel xavier normal;
      deepctr:  xavier normal over the stacked [K, M, r] / [K, r, r] tensors as torch
                computes its fans for 3-D tensors (fan_in = M r, fan_out = K r), biases 0,
                gates torch.nn.Linear's default U(-1/sqrt(M), 1/sqrt(M));
      torchrec: as deepctr, but V is stored [K, r, M], so its fans are (r M, K M).
    """
    if scheme == "seed":
        return {"u": xavier_normal, "v": xavier_normal, "c": xavier_normal,
                "bias": standard_normal, "gate": xavier_normal}
    stds = peer_init_stds(scheme, m, r, k)
    return {"u": normal(stds["u"]), "v": normal(stds["v"]), "c": normal(stds["c"]),
            "bias": zeros, "gate": torch_linear_bias(m)}


def he_normal_kernels(variables: dict, cfg, key) -> dict:
    """`variables` with every Linear kernel [in, out] of the model (dcnmix.models.linear_weights)
    drawn anew from N(0, 2 / in), untruncated: torch's kaiming_normal_(nonlinearity='relu')
    (`--init he_normal`; Keras's he_normal truncates at two std-devs)."""
    from flax import traverse_util
    from dcnmix.models import linear_weights
    flat = traverse_util.flatten_dict(variables)
    for i, entry in enumerate(linear_weights(cfg)):
        shape = flat[entry.path].shape
        flat[entry.path] = normal((2.0 / shape[0]) ** 0.5)(jax.random.fold_in(key, i), shape,
                                                            flat[entry.path].dtype)
    return traverse_util.unflatten_dict(flat)
