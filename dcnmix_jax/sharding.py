"""Scale-out with jax.sharding: the batch split over a 'data' mesh axis, the embedding table
(and its optimiser moments) split by rows over a 'model' axis, everything else replicated.

The same jitted steps as on one device (dcnmix_jax.steps, dcnmix_jax.lazy) run under
explicit shardings; XLA's SPMD partitioner inserts the collectives (all-reduce of the
gradients and of the BatchNorm batch moments, the row-sharded gather and scatter). Works
unchanged across processes (`jax.distributed.initialize`): every array is built with
jax.make_array_from_callback from host data that each process holds in full.

    mesh = make_mesh(data=4, model=2)       # 8 devices
    trainer = JaxTrainer(cfg, TrainConfig(), mesh=mesh)
"""
from __future__ import annotations

import re

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXES = ("data", "model")


def parse_mesh(text: str) -> tuple[int, int]:
    """'DxM' (e.g. '4x2') or 'D' -> (data, model) axis sizes."""
    parts = text.lower().split("x")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if len(sizes) not in (1, 2) or min(sizes, default=0) < 1:
        raise ValueError(f"--mesh {text!r}: expected DATAxMODEL with positive sizes, e.g. 4x2 or 8")
    return sizes if len(sizes) == 2 else (sizes[0], 1)


def make_mesh(data: int, model: int = 1, devices=None) -> Mesh:
    """A (data, model) mesh over `devices` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    if data * model != len(devices):
        raise ValueError(f"a {data}x{model} mesh needs {data * model} devices, "
                         f"{len(devices)} are available ({devices[0].platform})")
    return Mesh(np.asarray(devices).reshape(data, model), AXES)


def padded_rows(feat_dim: int, mesh: Mesh) -> int:
    """Table rows rounded up to a multiple of the model axis (shards must be equal)."""
    m = mesh.shape["model"]
    return -(-feat_dim // m) * m


# the rule that row-shards a leaf over 'model' (others are replicated): a 2-D leaf whose
# path (jax.tree_util.keystr) matches one of these, i.e. the embedding table, whatever holds
# it: params['embedding']['embedding'], the same path inside any optax state (Adam's mu and
# nu, Adagrad's sums, SGD's trace), and a LazyState's table and its per-row slots
TABLE_PATHS = (r"\['embedding'\]\['embedding'\]$", r"^\.table$", r"^\.slots\[")


def _is_table(path, x) -> bool:
    return np.ndim(x) == 2 and any(re.search(p, jax.tree_util.keystr(path)) for p in TABLE_PATHS)


def state_shardings(state, mesh: Mesh):
    """NamedSharding per leaf: table-like 2-D leaves row-sharded over 'model', others replicated."""
    rows, replicated = NamedSharding(mesh, P("model", None)), NamedSharding(mesh, P())
    return jax.tree_util.tree_map_with_path(
        lambda path, x: rows if _is_table(path, x) else replicated, state)


def place(tree, shardings):
    """Host (or device) arrays -> global jax.Arrays with these shardings; each process supplies
    its own shards from its full copy of the data."""
    def put(x, sharding):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
    return jax.tree_util.tree_map(put, tree, shardings)


def to_host(tree):
    """Global jax.Arrays -> numpy on every process (an all-gather where a process lacks shards)."""
    from jax.experimental import multihost_utils

    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)
    return jax.tree_util.tree_map(get, tree)


def resize_tables(tree, rows: int):
    """Every table-like leaf (see state_shardings) cut or zero-padded to `rows` rows; numpy."""
    def resize(path, x):
        x = np.asarray(x)
        if not _is_table(path, x) or len(x) == rows:
            return x
        out = np.zeros((rows, x.shape[1]), x.dtype)
        out[:min(rows, len(x))] = x[:rows]
        return out
    return jax.tree_util.tree_map_with_path(resize, tree)


def pad_table(variables: dict, rows: int) -> dict:
    """Variables with the embedding table zero-padded to `rows` (padding rows are never looked
    up, so their gradients, moments and values stay 0)."""
    table = np.asarray(variables["params"]["embedding"]["embedding"])
    padded = np.zeros((rows, table.shape[1]), table.dtype)
    padded[:len(table)] = table
    return {**variables, "params": {**variables["params"], "embedding": {"embedding": padded}}}


def unpad_table(variables: dict, feat_dim: int) -> dict:
    """The inverse of pad_table."""
    table = variables["params"]["embedding"]["embedding"][:feat_dim]
    return {**variables, "params": {**variables["params"], "embedding": {"embedding": table}}}


def sharded_steps(mesh: Mesh, state, step_fn, predict_fn):
    """(backend.Steps, state shardings): step_fn(state, ids, labels) -> (state, loss) and
    predict_fn(state, ids) -> probs jitted with the state donated and kept in its shardings;
    batches are split over 'data'; `put` places host data replicated."""
    from .steps import Steps, scan_batches, scan_steps
    shardings = state_shardings(state, mesh)
    replicated = NamedSharding(mesh, P())
    batch = NamedSharding(mesh, P("data"))
    out = (shardings, replicated)
    steps = Steps(step=jax.jit(step_fn, donate_argnums=0, out_shardings=out),
                  resident=jax.jit(scan_steps(step_fn, batch), donate_argnums=0, out_shardings=out),
                  predict=jax.jit(predict_fn, out_shardings=replicated),
                  put=lambda x: place(x, replicated),
                  streamed=jax.jit(scan_batches(step_fn), donate_argnums=0, out_shardings=out),
                  batch_sharding=NamedSharding(mesh, P(None, "data")))
    return steps, shardings
