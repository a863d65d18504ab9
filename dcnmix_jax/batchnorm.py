"""BatchNorm with torch.nn.BatchNorm1d's exact semantics."""
import jax.numpy as jnp
from flax import linen as nn


def batch_moments(x):
    """The batch mean and *biased* variance of x [B, F], in at least float32 (training mode
    needs B >= 2, as torch.nn.BatchNorm1d does)."""
    n = x.shape[0]
    if n < 2:
        raise ValueError("BatchNorm in training mode needs a batch of at least 2 rows "
                         f"(got {n}), as torch.nn.BatchNorm1d does")
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = xf.mean(0)
    return mean, jnp.square(xf - mean).mean(0)


def running_update(running_mean, running_var, mean, var, n: int, momentum: float):
    """torch's running statistics: r <- (1 - momentum) r + momentum s, the variance kept
    unbiased (var * n / (n - 1))."""
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var * (n / (n - 1)))


def normalize(x, mean, var, scale, bias, epsilon: float, dtype=None):
    """(x - mean) / sqrt(var + eps) * scale + bias in the compute dtype (default x's)."""
    dtype = dtype or x.dtype
    inv = (1.0 / jnp.sqrt(var + epsilon)).astype(dtype)
    y = (x.astype(dtype) - mean.astype(dtype)) * inv
    return y * scale.astype(dtype) + bias.astype(dtype)


class TorchBatchNorm(nn.Module):
    """torch.nn.BatchNorm1d on x [B, F].

    train: y = (x - mean_B) / sqrt(var_B + eps) * scale + bias, var_B the *biased* batch
    variance; running stats move as r <- (1 - momentum) r + momentum s (torch's momentum
    convention), with the *unbiased* variance var_B * B / (B - 1) kept (flax's BatchNorm keeps
    the biased one, so its eval outputs drift from torch's). eval: the running stats are used.
    batch_stats holds mean, var and count (torch's num_batches_tracked).
    """

    momentum: float = 0.1
    epsilon: float = 1e-5
    dtype: object | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        features = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
        count = self.variable("batch_stats", "count", jnp.zeros, (), jnp.int32)
        if train:
            mean, var = batch_moments(x)
            if not self.is_initializing():
                ra_mean.value, ra_var.value = running_update(
                    ra_mean.value, ra_var.value, mean, var, x.shape[0], self.momentum)
                count.value = count.value + 1
        else:
            mean, var = ra_mean.value, ra_var.value
        return normalize(x, mean, var, scale, bias, self.epsilon, self.dtype)
