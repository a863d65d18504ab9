"""The JAX side of the training loop: jitted steps on a donated TrainState."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from .config import ModelConfig
from .model import DCN, count_params
from .steps import create_state, predict, torch_adam, train_step


class JaxBackend:
    """Model, optimiser state and steps for dcnmix_jax.DCN (see dcnmix_jax.train)."""

    name = "jax"
    state_file = "state.msgpack"

    def __init__(self, cfg: ModelConfig, *, lr: float, weight_decay: float, seed: int):
        self.cfg = cfg
        self.model = DCN(**cfg.kwargs())
        init_key, dropout_key = jax.random.split(jax.random.PRNGKey(seed))  # raw keys serialise
        variables = self.model.init(init_key, jnp.zeros((2, cfg.field_num), jnp.int32))
        self.state = create_state(self.model, variables, torch_adam(lr, weight_decay=weight_decay),
                                  dropout_key)
        self.n_params = count_params(variables["params"])

    def train_batch(self, ids: np.ndarray, labels: np.ndarray):
        self.state, loss = train_step(self.state, ids, labels)
        return loss  # a device scalar: summed lazily, read once per epoch

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.state, ids)

    def variables(self) -> dict:
        return {"params": self.state.params, "batch_stats": self.state.batch_stats}

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights in the shared torch-keyed layout (for the best-model export)."""
        from parity.convert import flax_to_arrays
        return flax_to_arrays(jax.device_get(self.variables()), self.cfg)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        from parity.convert import torch_to_flax
        v = torch_to_flax(arrays, self.cfg)
        self.state = self.state.replace(params=v["params"], batch_stats=v["batch_stats"])

    def state_bytes(self) -> bytes:
        return serialization.to_bytes(jax.device_get(self.state))

    def restore_state(self, data: bytes) -> None:
        self.state = serialization.from_bytes(self.state, data)
