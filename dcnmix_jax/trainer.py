"""The JAX trainer (dcnmix.backends.Trainer, made by dcnmix_jax.backend): jitted steps on a
donated state."""
from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from dcnmix.config import ModelConfig, TrainConfig
from dcnmix.data import features
from dcnmix.layout import arrays_to_flax, flax_to_arrays

from .dispatch import Dispatch, Timer
from .host_memory import by_default as keep_freed_memory
from .init import he_normal_kernels
from .model import count_params, model_for
from .optim import make_optimizer
from .steps import Steps, create_state, predict


def _dense_or_lazy(model, variables, tc: TrainConfig, dropout_key):
    """(initial state, unjitted step, unjitted predict, the jitted Steps on one device) for
    tc.embedding_optimizer: the optimiser tc.optimizer on every parameter ('dense'), or on
    all but the table, which gets its row-wise form ('lazy', dcnmix_jax.lazy)."""
    if tc.embedding_optimizer == "lazy":
        from . import lazy
        emb_wd = tc.weight_decay if tc.emb_weight_decay is None else tc.emb_weight_decay
        state = lazy.create_lazy_state(model, variables,
                                       make_optimizer(dataclasses.replace(tc, emb_weight_decay=None)),
                                       dropout_key, lr=tc.lr, optimizer=tc.optimizer,
                                       emb_weight_decay=emb_wd)
        return state, lazy.lazy_step, lazy.lazy_predict, Steps(
            lazy.lazy_train_step, lazy.lazy_train_steps, lazy.lazy_predict_batch, jax.device_put,
            lazy.lazy_train_batches)
    from . import steps
    tx = make_optimizer(tc)       # jitted: op by op, the optimiser's init compiles ~30 programs
    state = jax.jit(lambda v, key: create_state(model, v, tx, key, ema=tc.ema), donate_argnums=0)(
        variables, dropout_key)      # donated: a large table is not copied
    return state, steps.step, steps.predict_probs, Steps(
        steps.train_step, steps.train_steps, steps.predict_batch, jax.device_put,
        steps.train_batches)


def _gather(source, flat: np.ndarray) -> np.ndarray:
    """source[flat], read in file order (a memory map is read forwards)."""
    order = np.argsort(flat, kind="stable")
    out = np.empty((flat.size,) + source.shape[1:], source.dtype)
    out[order] = source[flat[order]]
    return out


def default_data_budget() -> int:
    """A quarter of the first device's memory (its allocator's limit), or of the host's RAM
    where the device reports none (CPU)."""
    try:       # this process's device: another process's cannot report its memory
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # backends without memory statistics raise several kinds of error
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) // 4
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


class JaxTrainer:
    """Model, optimiser state and steps for any model of dcnmix.models (cfg.model; see dcnmix.loop).

    tc.optimizer (dcnmix.optimizers) with torch's semantics; tc.embedding_optimizer 'dense'
    applies it to every parameter (the parity suite's semantics), 'lazy' updates only the
    embedding rows of each batch (dcnmix_jax.lazy).
    tc.dtype: 'bfloat16' computes in bfloat16 with float32 parameters; 'float64' (with
    JAX_ENABLE_X64=1) trains in double precision, for exactness tests. tc.mixture: the
    cross layer's arithmetic form (dcnmix_jax.cross.MixCross).

    mesh (a jax.sharding.Mesh with axes 'data' and 'model', see dcnmix_jax.sharding): batches
    split over 'data', the table row-sharded over 'model' (zero-padded to equal shards; the
    padding never leaves the backend), the rest replicated. None: one device.

    data_budget: bytes of training data kept on the device; a larger split streams from the
    host (train_chunks). Default: default_data_budget().
    """

    name = "jax"
    state_file = "state.msgpack"

    def __init__(self, cfg: ModelConfig, tc: TrainConfig = TrainConfig(), *, mesh=None,
                 data_budget: int | None = None):
        self.cfg, self.mesh, self.lazy = cfg, mesh, tc.embedding_optimizer == "lazy"
        keep_freed_memory()   # a step's scratch buffers would page-fault on every call
        self.data_budget = default_data_budget() if data_budget is None else int(data_budget)
        init_key, dropout_key = jax.random.split(jax.random.PRNGKey(tc.seed))  # raw keys serialise
        compute = jnp.bfloat16 if tc.dtype == "bfloat16" else None
        module = lambda rows: model_for(dataclasses.replace(cfg, feat_dim=rows),
                                        mixture=tc.mixture, dtype=compute)
        # jitted: op by op, init compiles every primitive on its own (building the backend for
        # the Frappe recipe took 8.6 s that way, 6.4 s jitted; benchmarks/RESULTS.md)
        variables = jax.jit(module(cfg.feat_dim).init)(init_key, features.example(cfg))
        if tc.init == "he_normal":
            variables = he_normal_kernels(variables, cfg, jax.random.fold_in(init_key, 1))
        self.n_params = count_params(variables["params"])
        if tc.dtype == "float64":
            if jnp.zeros((), "float64").dtype != np.float64:
                raise ValueError("dtype float64 needs jax's x64 mode (JAX_ENABLE_X64=1)")
            variables = jax.tree_util.tree_map(lambda x: x.astype("float64"), variables)
        rows = cfg.feat_dim
        if mesh is not None:
            from .sharding import pad_table, padded_rows
            rows = padded_rows(cfg.feat_dim, mesh)
            variables = pad_table(variables, rows)
        self.model = module(rows)
        state, step_fn, predict_fn, self.fns = _dense_or_lazy(self.model, variables, tc, dropout_key)
        self._shardings = None
        if mesh is not None:
            from .sharding import sharded_steps
            self.fns, self._shardings = sharded_steps(mesh, state, step_fn, predict_fn)
        self._set_state(state)
        self._resident = None
        self.read_log = None
        self.process = (jax.process_index(), jax.process_count()) if mesh is not None else (0, 1)
        self.dispatch = Dispatch()

    def streams(self, dataset) -> bool:
        """Whether `dataset` is streamed (larger than the device-data budget)."""
        return features.nbytes(dataset.inputs) + dataset.labels.nbytes > self.data_budget

    def train_chunks(self, dataset, order: list[np.ndarray], chunk: int = 64, *,
                     local: bool = False):
        """Train on the batches `order` (row indices) of `dataset`; yields (rows done, losses).

        Full batches run `chunk` at a time as one lax.scan dispatch, or one step per batch
        where that measured faster (self.dispatch). Data within the device-data budget is
        placed on the device once and gathered there; larger data
        (e.g. a memory-mapped prepared split) streams: each chunk's rows are gathered on the
        host and sent while the previous chunk computes (dispatch is asynchronous), so only
        two chunks are ever on the device. Same batches, same arithmetic either way. A final
        partial batch runs alone.

        local (several processes): `dataset` holds this process's rows alone and each batch of
        `order` is its part of the global batch (jax.make_array_from_process_local_data);
        streamed, every batch full."""
        size = len(order[0])
        full = [b for b in order if len(b) == size]
        if local:
            self._check_local(size)
        if local or self.streams(dataset):
            for inputs, labels in self._streamed(dataset, full, chunk, local=local):
                self.state, losses = self.fns.streamed(self.state, inputs, labels)
                yield labels.shape[0] * labels.shape[1], losses
        else:
            yield from self._resident_chunks(dataset, full, chunk)
        yield from self._single_steps(dataset, order[len(full):])

    def _resident_chunks(self, dataset, full: list[np.ndarray], chunk: int):
        """The full batches of resident data, by the path self.dispatch picks (a chunk per
        lax.scan dispatch, or a step per batch; dcnmix_jax.dispatch)."""
        put = self.fns.put
        if self._resident is None or self._resident[0] is not dataset:
            self._resident = (dataset, put(dataset.inputs), put(dataset.labels))
        _, ids, labels = self._resident
        for mode, a, b, timed in self.dispatch.plan(len(full), chunk):
            if timed:
                jax.block_until_ready(self.state)     # time this segment, not the one before
            mode, timer = mode or self.dispatch.choice(), Timer(timed)
            if mode == "step":
                losses = yield from self._single_steps(dataset, full[a:b])
            else:
                index = np.stack(full[a:b]).astype(np.int32)
                self.state, losses = self.fns.resident(self.state, ids, labels, put(index))
                yield index.size, losses
            seconds = timer.done(losses)
            if seconds is not None:
                self.dispatch.record(mode, seconds, b - a)

    def _single_steps(self, dataset, batches: list[np.ndarray]):
        """One jitted step per batch, gathered on the host; returns the last loss."""
        put, loss = self.fns.put, None
        for b in batches:
            self.state, loss = self.fns.step(self.state, put(features.take(dataset.inputs, b)),
                                             put(dataset.labels[b]))
            yield len(b), loss[None]
        return loss

    def _streamed(self, dataset, full: list[np.ndarray], chunk: int, *, local: bool = False):
        """(ids [S, B, F], labels [S, B]) per chunk of S batches, on the device. Each process
        gathers from the host data only the rows its devices hold (the batch axis is split
        over the mesh's 'data' axis); `read_log`, when a list, records them (tests). local:
        the batches are this process's rows of the global batches."""
        place = self._place_local if local else self._place_rows
        for start in range(0, len(full), chunk):
            index = np.stack(full[start:start + chunk])
            inputs = jax.tree_util.tree_map(lambda x: place(x, index), dataset.inputs)
            yield inputs, place(dataset.labels, index)

    def _local_sharding(self, ndim: int):
        from jax.sharding import NamedSharding, PartitionSpec as P
        return NamedSharding(self.fns.batch_sharding.mesh, P(None, "data", *([None] * (ndim - 1))))

    def _check_local(self, rows: int) -> None:
        """A ConfigError unless this process's devices hold `rows` of each global batch of
        rows x processes: the mesh's 'data' axis must split the batch over the processes."""
        from dcnmix.config import ConfigError
        count = self.process[1]
        held = {} if self.fns.batch_sharding is None else \
            self._local_sharding(1).addressable_devices_indices_map((1, rows * count))
        spans = {index[1].indices(rows * count)[:2] for index in held.values()}
        if sum(b - a for a, b in spans) != rows:
            raise ConfigError("mesh", f"a sharded training split over {count} processes needs a "
                                      "mesh whose 'data' axis splits each batch over the processes "
                                      "(e.g. --mesh PROCESSESx1)")

    def _place_local(self, source, index: np.ndarray):
        """This process's rows `index` [S, b] of `source` as its part of global arrays
        [S, b x processes, ...] split over the mesh's 'data' axis."""
        rows = _gather(source, index.ravel()).reshape(index.shape + source.shape[1:])
        shape = (index.shape[0], index.shape[1] * self.process[1]) + source.shape[1:]
        return jax.make_array_from_process_local_data(self._local_sharding(source.ndim), rows, shape)

    def _place_rows(self, source, index: np.ndarray):
        shape = index.shape + source.shape[1:]

        def rows(part=(slice(None), slice(None))):
            wanted = index[part[0], part[1]]
            flat = wanted.ravel()
            out = _gather(source, flat)
            if self.read_log is not None and source.ndim == 2 and source.dtype == np.int32:
                self.read_log.append(flat)
            return out.reshape(wanted.shape + source.shape[1:])
        if self.fns.batch_sharding is None:
            return jax.device_put(rows())
        from jax.sharding import NamedSharding, PartitionSpec as P
        spec = P(None, "data", *([None] * (source.ndim - 1)))
        sharding = NamedSharding(self.fns.batch_sharding.mesh, spec)
        return jax.make_array_from_callback(shape, sharding, lambda part: rows(part[:2]))

    def notes(self) -> dict:
        return {"dispatch": self.dispatch.info()}

    def set_learning_rate(self, lr: float) -> None:
        self._set_state(self.state.with_learning_rate(lr))

    def predict(self, ids: np.ndarray) -> np.ndarray:
        return predict(self.state, ids, predict_batch=lambda st, x: self.fns.predict(st, self.fns.put(x)))

    def variables(self) -> dict:
        """Flax variables of the unpadded model, as numpy on every process."""
        from .sharding import to_host, unpad_table
        return unpad_table(to_host(self.state.variables()), self.cfg.feat_dim)

    def arrays(self) -> dict[str, np.ndarray]:
        """Weights in the shared torch-keyed layout (for checkpoints and the best-model export)."""
        return flax_to_arrays(self.variables(), self.cfg)

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        v = arrays_to_flax(arrays, self.cfg)
        if self.mesh is not None:
            from .sharding import pad_table
            v = pad_table(v, self.model.feat_dim)
        if self.lazy:
            params = {k: x for k, x in v["params"].items() if k != "embedding"}
            state = self.state.replace(params=params, batch_stats=v.get("batch_stats", {}),
                                       table=jnp.asarray(v["params"]["embedding"]["embedding"]))
        else:
            state = self.state.with_params(v["params"]).replace(batch_stats=v.get("batch_stats", {}))
        self._set_state(state)

    def _set_state(self, state) -> None:
        if self._shardings is None:
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
        from .lazy import migrate
        from .sharding import resize_tables
        raw = serialization.msgpack_restore(data)
        if not self.lazy:
            raw.setdefault("ema", None)   # a checkpoint written before --ema existed
        state = serialization.from_state_dict(self.state, migrate(raw) if self.lazy else raw)
        self._set_state(resize_tables(state, self.model.feat_dim))
