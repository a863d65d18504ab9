"""The JAX side of the training loop: jitted steps on a donated state."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from .config import ModelConfig
from .model import DCN, count_params
from .steps import _predict, create_state, predict, torch_adam, train_step, train_steps

EMBEDDING_OPTIMIZERS = ("dense", "lazy")


class JaxBackend:
    """Model, optimiser state and steps for dcnmix_jax.DCN (see dcnmix_jax.train).

    embedding_optimizer 'dense' is torch's Adam on every parameter (the parity suite's
    semantics); 'lazy' updates only the embedding rows of each batch (dcnmix_jax.lazy),
    for tables too large to sweep every step.
    """

    name = "jax"
    state_file = "state.msgpack"

    def __init__(self, cfg: ModelConfig, *, lr: float, weight_decay: float, seed: int,
                 emb_weight_decay: float | None = None, embedding_optimizer: str = "dense"):
        if embedding_optimizer not in EMBEDDING_OPTIMIZERS:
            raise ValueError(f"unknown embedding optimizer {embedding_optimizer!r} "
                             f"(expected one of {EMBEDDING_OPTIMIZERS})")
        self.cfg = cfg
        self.model = DCN(**cfg.kwargs())
        init_key, dropout_key = jax.random.split(jax.random.PRNGKey(seed))  # raw keys serialise
        variables = self.model.init(init_key, jnp.zeros((2, cfg.field_num), jnp.int32))
        self.n_params = count_params(variables["params"])
        self.lazy = embedding_optimizer == "lazy"
        if self.lazy:
            from .lazy import create_lazy_state, lazy_predict_batch, lazy_train_step, lazy_train_steps
            self.state = create_lazy_state(
                self.model, variables, torch_adam(lr, weight_decay=weight_decay), dropout_key, lr=lr,
                emb_weight_decay=weight_decay if emb_weight_decay is None else emb_weight_decay)
            self._step, self._steps, self._predict = lazy_train_step, lazy_train_steps, lazy_predict_batch
        else:
            self.state = create_state(self.model, variables,
                                      torch_adam(lr, weight_decay=weight_decay,
                                                 emb_weight_decay=emb_weight_decay), dropout_key)
            self._step, self._steps, self._predict = train_step, train_steps, _predict
        self._resident = None

    def train_chunks(self, dataset, order: list[np.ndarray], chunk: int = 64):
        """Train on the batches `order` (row indices) of `dataset`; yields (rows done, losses).

        Full batches run `chunk` at a time as one lax.scan dispatch over the device-resident
        dataset (placed once); a final partial batch runs alone."""
        if self._resident is None or self._resident[0] is not dataset:
            self._resident = (dataset, jax.device_put(dataset.ids), jax.device_put(dataset.labels))
        _, ids, labels = self._resident
        size = len(order[0])
        full = [b for b in order if len(b) == size]
        for start in range(0, len(full), chunk):
            index = np.stack(full[start:start + chunk]).astype(np.int32)
            self.state, losses = self._steps(self.state, ids, labels, index)
            yield index.size, losses
        for b in order[len(full):]:
            self.state, loss = self._step(self.state, dataset.ids[b], dataset.labels[b])
            yield len(b), loss[None]

    def set_learning_rate(self, lr: float) -> None:
        from .steps import set_learning_rate
        if self.lazy:
            raise ValueError("learning-rate decay is not available with the lazy embedding optimizer")
        self.state = self.state.replace(opt_state=set_learning_rate(self.state.opt_state, lr))

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.state, ids, predict_batch=self._predict)

    def variables(self) -> dict:
        if self.lazy:
            return self.state.variables()
        return {"params": self.state.params, "batch_stats": self.state.batch_stats}

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights in the shared torch-keyed layout (for checkpoints and the best-model export)."""
        from parity.convert import flax_to_arrays
        return flax_to_arrays(jax.device_get(self.variables()), self.cfg)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        from parity.convert import torch_to_flax
        v = torch_to_flax(arrays, self.cfg)
        if self.lazy:
            params = {k: x for k, x in v["params"].items() if k != "embedding"}
            self.state = self.state.replace(params=params, batch_stats=v["batch_stats"],
                                            table=jnp.asarray(v["params"]["embedding"]["embedding"]))
        else:
            self.state = self.state.replace(params=v["params"], batch_stats=v["batch_stats"])

    def state_bytes(self) -> bytes:
        return serialization.to_bytes(jax.device_get(self.state))

    def restore_state(self, data: bytes) -> None:
        self.state = serialization.from_bytes(self.state, data)
