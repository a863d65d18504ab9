"""The JAX side of the training loop: jitted steps on a donated state."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from .config import ModelConfig
from .model import DCN, count_params
from .steps import _predict, _train_step, create_state, predict, torch_adam, train_step, train_steps

EMBEDDING_OPTIMIZERS = ("dense", "lazy")


class JaxBackend:
    """Model, optimiser state and steps for dcnmix_jax.DCN (see dcnmix_jax.train).

    embedding_optimizer 'dense' is torch's Adam on every parameter (the parity suite's
    semantics); 'lazy' updates only the embedding rows of each batch (dcnmix_jax.lazy),
    for tables too large to sweep every step.

    mesh (a jax.sharding.Mesh with axes 'data' and 'model', see dcnmix_jax.sharding): batches
    split over 'data', the table row-sharded over 'model' (zero-padded to equal shards; the
    padding never leaves the backend), the rest replicated. None: one device, as before.
    param_dtype 'float64' (with JAX_ENABLE_X64=1) trains in double precision, for exactness tests.
    """

    name = "jax"
    state_file = "state.msgpack"

    def __init__(self, cfg: ModelConfig, *, lr: float, weight_decay: float, seed: int,
                 emb_weight_decay: float | None = None, embedding_optimizer: str = "dense",
                 mesh=None, param_dtype: str = "float32"):
        if embedding_optimizer not in EMBEDDING_OPTIMIZERS:
            raise ValueError(f"unknown embedding optimizer {embedding_optimizer!r} "
                             f"(expected one of {EMBEDDING_OPTIMIZERS})")
        self.cfg = cfg
        self.mesh = mesh
        init_key, dropout_key = jax.random.split(jax.random.PRNGKey(seed))  # raw keys serialise
        variables = DCN(**cfg.kwargs()).init(init_key, jnp.zeros((2, cfg.field_num), jnp.int32))
        self.n_params = count_params(variables["params"])
        if param_dtype != "float32":
            if jnp.zeros((), param_dtype).dtype != np.dtype(param_dtype):
                raise ValueError(f"param_dtype {param_dtype} needs jax's x64 mode (JAX_ENABLE_X64=1)")
            variables = jax.tree_util.tree_map(lambda x: x.astype(param_dtype), variables)
        rows = cfg.feat_dim
        if mesh is not None:
            from .sharding import pad_table, padded_rows
            rows = padded_rows(cfg.feat_dim, mesh)
            variables = pad_table(variables, rows)
        self.model = DCN(**dict(cfg.kwargs(), feat_dim=rows))
        self.lazy = embedding_optimizer == "lazy"
        if self.lazy:
            from .lazy import _lazy_step, create_lazy_state, lazy_predict_batch, lazy_train_step, lazy_train_steps
            state = create_lazy_state(
                self.model, variables, torch_adam(lr, weight_decay=weight_decay), dropout_key, lr=lr,
                emb_weight_decay=weight_decay if emb_weight_decay is None else emb_weight_decay)
            fns = _lazy_step, lazy_train_step, lazy_train_steps, lazy_predict_batch
        else:
            state = create_state(self.model, variables,
                                 torch_adam(lr, weight_decay=weight_decay,
                                            emb_weight_decay=emb_weight_decay), dropout_key)
            fns = _train_step, train_step, train_steps, _predict
        if mesh is None:
            self.state = state
            self._step, self._steps, self._predict = fns[1:]
            self._put = jax.device_put
        else:
            from .sharding import place, sharded_steps
            sharded = sharded_steps(mesh, state, fns[0], fns[3])
            self.state = place(state, sharded.state_shardings)
            self._shardings = sharded.state_shardings
            self._step, self._steps = sharded.step, sharded.steps
            self._predict = lambda st, ids: sharded.predict(st, sharded.replicated(ids))
            self._put = sharded.replicated
        self._resident = None

    def train_chunks(self, dataset, order: list[np.ndarray], chunk: int = 64):
        """Train on the batches `order` (row indices) of `dataset`; yields (rows done, losses).

        Full batches run `chunk` at a time as one lax.scan dispatch over the device-resident
        dataset (placed once); a final partial batch runs alone."""
        if self._resident is None or self._resident[0] is not dataset:
            self._resident = (dataset, self._put(dataset.ids), self._put(dataset.labels))
        _, ids, labels = self._resident
        size = len(order[0])
        full = [b for b in order if len(b) == size]
        for start in range(0, len(full), chunk):
            index = np.stack(full[start:start + chunk]).astype(np.int32)
            self.state, losses = self._steps(self.state, ids, labels, self._put(index))
            yield index.size, losses
        for b in order[len(full):]:
            self.state, loss = self._step(self.state, self._put(dataset.ids[b]),
                                          self._put(dataset.labels[b]))
            yield len(b), loss[None]

    def set_learning_rate(self, lr: float) -> None:
        from .steps import set_learning_rate
        if self.lazy:
            raise ValueError("learning-rate decay is not available with the lazy embedding optimizer")
        self._set_state(self.state.replace(opt_state=set_learning_rate(self.state.opt_state, lr)))

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.state, ids, predict_batch=self._predict)

    def variables(self) -> dict:
        """Flax variables of the unpadded model, as numpy on every process."""
        from .sharding import to_host, unpad_table
        v = self.state.variables() if self.lazy else {"params": self.state.params,
                                                        "batch_stats": self.state.batch_stats}
        return unpad_table(to_host(v), self.cfg.feat_dim)

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights in the shared torch-keyed layout (for checkpoints and the best-model export)."""
        from parity.convert import flax_to_arrays
        return flax_to_arrays(self.variables(), self.cfg)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        from parity.convert import torch_to_flax
        v = torch_to_flax(arrays, self.cfg)
        if self.mesh is not None:
            from .sharding import pad_table
            v = pad_table(v, self.model.feat_dim)
        if self.lazy:
            params = {k: x for k, x in v["params"].items() if k != "embedding"}
            state = self.state.replace(params=params, batch_stats=v["batch_stats"],
                                       table=jnp.asarray(v["params"]["embedding"]["embedding"]))
        else:
            state = self.state.replace(params=v["params"], batch_stats=v["batch_stats"])
        self._set_state(state)

    def _set_state(self, state) -> None:
        if self.mesh is None:
            self.state = state
        else:
            from .sharding import place
            self.state = place(state, self._shardings)

    def state_bytes(self) -> bytes:
        """The whole training state, with tables at their true row count (no mesh padding),
        so a run can resume on another mesh or on one device."""
        from .sharding import resize_tables, to_host
        return serialization.to_bytes(resize_tables(to_host(self.state), self.cfg.feat_dim))

    def restore_state(self, data: bytes) -> None:
        from .sharding import resize_tables
        state = serialization.from_bytes(self.state, data)
        self._set_state(resize_tables(state, self.model.feat_dim))
