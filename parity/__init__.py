"""parity: weight conversion between dcnmix_jax and dcnmix_torch, and the checks that they agree."""
