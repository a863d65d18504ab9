"""The JAX backend (dcnmix.backends.Backend), registered as entry point `jax` of the group
`dcnmix.backends`: training (dcnmix_jax.trainer), inference, StableHLO export, CPU threads,
multi-process start-up and meshes. Importing this module imports no JAX: each method
imports what it needs, so `dcnmix --help` and the option checks stay fast.
"""
from __future__ import annotations

import os

import numpy as np


def guarded(apply, names, feat_dim: int):
    """apply(batch) over the serving inputs as separate arrays, in `names` order; a row
    holding an id outside [0, feat_dim) (multi: [-1, feat_dim), -1 padding) gives NaN
    (docs/serving.md): its ids are replaced before the gather, which would clamp or wrap."""
    import jax.numpy as jnp

    def fn(*arrays):
        ok = jnp.ones(arrays[0].shape[0], bool)
        for name, a in zip(names, arrays):
            if jnp.issubdtype(a.dtype, jnp.integer):
                low = -1 if name == "multi" else 0
                ok &= ((a >= low) & (a < feat_dim)).all(axis=tuple(range(1, a.ndim)))
        safe = [jnp.where(ok.reshape(-1, *[1] * (a.ndim - 1)), a, 0)
                if jnp.issubdtype(a.dtype, jnp.integer) else a for a in arrays]
        probs = apply(safe[0] if len(safe) == 1 else dict(zip(names, safe)))
        return jnp.where(ok, probs, jnp.nan)
    return fn


class Predictor:
    """A run's weights in the Flax module: `predictor(ids)` -> probabilities (jitted);
    .model (the Flax module) and .variables (on the device, placed once)."""

    def __init__(self, cfg, arrays):
        import jax
        from dcnmix.layout import arrays_to_flax
        from .model import model_for
        self.config = cfg
        self.model = model_for(cfg)
        self.variables = jax.device_put(arrays_to_flax(arrays, cfg))
        self._apply = jax.jit(self.model.apply)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._apply(self.variables, ids))


class NnxPredictor:
    """A run's weights in the Flax NNX module (dcnmix_jax.nnx), eval mode: `predictor(ids)`
    -> probabilities through one jitted pure function of the split state; .model (the NNX
    module) and .variables (the same arrays in linen's layout)."""

    def __init__(self, cfg, arrays):
        import jax
        from flax import nnx
        from .nnx.build import from_arrays
        from .nnx.convert import to_linen
        self.config = cfg
        self.model = from_arrays(cfg, arrays)
        self.model.eval()
        self.variables = to_linen(self.model)
        graphdef, state = nnx.split(self.model)
        self._probs = jax.jit(lambda state, batch: nnx.merge(graphdef, state)(batch))
        self._state = state

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._probs(self._state, ids))


class JaxBackend:
    name = "jax"
    supports: dict = {}          # every option of dcnmix.config.TrainConfig, and meshes
    apis = ("linen", "nnx")      # the predictor's Flax module: linen (default) or NNX
    export_formats = {"stablehlo": "jax.export of the jitted Flax model, weights inlined; the "
                                   "inputs of docs/serving.md (ids int32 [batch, fields], ...); "
                                   "reload with jax.export.deserialize"}

    def trainer(self, cfg, tc, *, mesh=None, data_budget=None):
        from .trainer import JaxTrainer
        return JaxTrainer(cfg, tc, mesh=mesh, data_budget=data_budget)

    def predictor(self, cfg, arrays, *, api=None):
        return NnxPredictor(cfg, arrays) if api == "nnx" else Predictor(cfg, arrays)

    def export(self, fmt: str, predictor: Predictor, out: str, *, platforms=None) -> dict:
        """StableHLO of the model with the weights inlined, for `platforms` (jax's names:
        cpu, cuda, rocm, tpu; default: this machine's). Its arguments are the inputs of
        dcnmix.data.features.serving_inputs, in that order, batch and list length symbolic."""
        import jax
        from jax import export
        from dcnmix.data.features import describe, serving_inputs
        from dcnmix.weights import atomic_write_bytes
        if fmt != "stablehlo":
            raise ValueError(f"the jax backend exports {tuple(self.export_formats)}, not {fmt!r}")
        inputs = serving_inputs(predictor.config)
        names = [name for name, _, _ in inputs]
        fn = jax.jit(guarded(lambda batch: predictor.model.apply(predictor.variables, batch),
                             names, predictor.config.feat_dim))
        batch, length = export.symbolic_shape("batch, length")
        dims = {"batch": batch, "length": length}
        specs = [jax.ShapeDtypeStruct(tuple(dims.get(d, d) for d in shape), dtype)
                 for _, dtype, shape in inputs]
        exported = export.export(fn, platforms=tuple(platforms) if platforms else None)(*specs)
        atomic_write_bytes(out, exported.serialize())
        return {"format": "stablehlo", "input": describe(inputs),
                "platforms": list(exported.platforms)}

    def set_threads(self, threads: int) -> None:
        """XLA's CPU threads: takes effect only if set before jax initialises its backend."""
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen=false "
                                       f"intra_op_parallelism_threads={threads}").strip()

    def compilation_cache(self, folder):
        """jax's persistent compilation cache in `folder`, for every program (the small
        ones too: loading beats compiling them, 0.8 s of a small run's 8.7 s): a later process with the same program, jax version and device
        loads it instead of compiling (the train chunk, evaluation, the initialiser). A cache
        folder jax has already (JAX_COMPILATION_CACHE_DIR) is kept; None changes nothing."""
        import jax
        if jax.config.jax_compilation_cache_dir or folder is None:
            return jax.config.jax_compilation_cache_dir
        jax.config.update("jax_compilation_cache_dir", folder)
        if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        return folder

    def scale_out(self, *, mesh, coordinator, num_processes, process_id):
        """(mesh, process index, a line on both): jax.distributed.initialize when a
        coordinator is given ('auto': JAX detects the cluster), then a DATAxMODEL mesh
        (default: every device on 'data')."""
        import jax
        from .sharding import make_mesh, parse_mesh
        if coordinator == "auto":
            jax.distributed.initialize()
        elif coordinator is not None:
            jax.distributed.initialize(coordinator_address=coordinator,
                                       num_processes=num_processes, process_id=process_id)
        data, model = parse_mesh(mesh) if mesh else (jax.device_count(), 1)
        index = jax.process_index()
        line = (f"mesh {data}x{model} (data x model) over {jax.device_count()} "
                f"{jax.devices()[0].platform} devices, process {index} of {jax.process_count()}")
        return make_mesh(data, model), index, line


BACKEND = JaxBackend()
