"""parity: weight conversion between dcnmix_jax and dcnmix_torch, peer importers, and the
checks that the two frameworks compute the same thing.

    from parity import torch_to_flax, flax_to_torch
"""
from .convert import flax_to_torch, torch_to_flax

__all__ = ["flax_to_torch", "torch_to_flax"]
