"""Weights both ways with the frameworks' own types: torch state_dict <-> flax variables.

    variables = torch_to_flax(model.state_dict())       # for dcnmix_jax.DCN(**cfg.kwargs()).apply
    state_dict = flax_to_torch(variables)                # for dcnmix_torch.DCN.load_state_dict

The table and the numpy conversion live in dcnmix.layout (framework-free); this module adds
torch tensors on the way out. The configuration is inferred from key names and shapes
unless given; a missing, unexpected or mis-shaped tensor raises LayoutError naming the key.
"""
from __future__ import annotations

from dcnmix.config import ModelConfig
from dcnmix.layout import LayoutError, arrays_to_flax, flax_to_arrays, infer_config


def torch_to_flax(state_dict, config: ModelConfig | None = None) -> dict:
    """Flax variables {'params', 'batch_stats'} (numpy leaves) from a torch state_dict."""
    return arrays_to_flax(state_dict, config)


def flax_to_torch(variables, config: ModelConfig | None = None) -> dict:
    """torch state_dict (torch tensors) for dcnmix_torch.DCN(**cfg).load_state_dict(strict=True)."""
    import torch
    return {k: torch.from_numpy(v) for k, v in flax_to_arrays(variables, config).items()}


__all__ = ["LayoutError", "flax_to_arrays", "flax_to_torch", "infer_config", "torch_to_flax"]
