"""BatchNorm with torch.nn.BatchNorm1d's exact semantics."""
import jax.numpy as jnp
from flax import linen as nn


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
            n = x.shape[0]
            if n < 2:
                raise ValueError("BatchNorm in training mode needs a batch of at least 2 rows "
                                 f"(got {n}), as torch.nn.BatchNorm1d does")
            xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
            mean = xf.mean(0)
            var = jnp.square(xf - mean).mean(0)
            if not self.is_initializing():
                m = self.momentum
                ra_mean.value = (1 - m) * ra_mean.value + m * mean
                ra_var.value = (1 - m) * ra_var.value + m * var * (n / (n - 1))
                count.value = count.value + 1
        else:
            mean, var = ra_mean.value, ra_var.value
        dtype = self.dtype or x.dtype
        inv = (1.0 / jnp.sqrt(var + self.epsilon)).astype(dtype)
        y = (x.astype(dtype) - mean.astype(dtype)) * inv
        return y * scale.astype(dtype) + bias.astype(dtype)
