"""Training steps: lazy embedding Adam, per-group weight decay, no recompilation between epochs."""
import jax
import jax.numpy as jnp
import numpy as np
import torch
import pytest

from dcnmix_jax.lazy import create_lazy_state, lazy_train_step
from dcnmix_jax.model import DCN
from dcnmix_jax.optim import torch_adam
from dcnmix_jax.steps import create_state, train_step

copy = lambda tree: jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), tree)


def _small():
    model = DCN(field_num=3, feat_dim=9, emb_num=4, order_num=1, hidden_nums=(8,), dropout=0.0)
    variables = model.init(jax.random.key(0), jnp.zeros((2, 3), jnp.int32))
    return model, variables


def test_lazy_adam_equals_dense_adam_on_rows_present_every_step():
    model, v = _small()
    ids = np.array([[0, 2, 4], [1, 3, 5], [0, 3, 5], [1, 2, 4]], np.int32)  # ids 0-5 every batch
    y = np.array([1, 0, 1, 0], np.float32)
    dense = create_state(model, copy(v), torch_adam(1e-2), jax.random.key(1))
    lazy = create_lazy_state(model, copy(v), torch_adam(1e-2), jax.random.key(1), lr=1e-2)
    for _ in range(20):
        dense, _ = train_step(dense, ids, y)
        lazy, _ = lazy_train_step(lazy, ids, y)
    table = np.asarray(dense.params["embedding"]["embedding"])
    np.testing.assert_allclose(np.asarray(lazy.table)[:6], table[:6], atol=1e-6)
    # rows 6-8 never appear: lazy leaves them untouched; dense Adam leaves them too (zero moments)
    np.testing.assert_array_equal(np.asarray(lazy.table)[6:], np.asarray(v["params"]["embedding"]["embedding"])[6:])
    np.testing.assert_allclose(np.asarray(lazy.params["cross_net"]["layers_0"]["u"]),
                               np.asarray(dense.params["cross_net"]["layers_0"]["u"]), atol=1e-5)


def test_lazy_adam_freezes_rows_that_skip_a_step_and_dense_does_not():
    model, v = _small()
    y = np.array([1, 0], np.float32)
    first = np.array([[0, 3, 6], [1, 4, 7]], np.int32)
    second = np.array([[2, 5, 8], [2, 5, 8]], np.int32)
    dense = create_state(model, copy(v), torch_adam(1e-2), jax.random.key(1))
    lazy = create_lazy_state(model, copy(v), torch_adam(1e-2), jax.random.key(1), lr=1e-2)
    dense, _ = train_step(dense, first, y)
    lazy, _ = lazy_train_step(lazy, first, y)
    np.testing.assert_allclose(np.asarray(lazy.table), np.asarray(dense.params["embedding"]["embedding"]),
                               atol=1e-7)  # identical after the first step
    after_first = np.asarray(lazy.table).copy()
    dense, _ = train_step(dense, second, y)
    lazy, _ = lazy_train_step(lazy, second, y)
    np.testing.assert_array_equal(np.asarray(lazy.table)[[0, 1, 3, 4, 6, 7]], after_first[[0, 1, 3, 4, 6, 7]])
    moved = np.abs(np.asarray(dense.params["embedding"]["embedding"])[0] - after_first[0]).max()
    assert moved > 1e-4  # dense Adam keeps moving row 0 on momentum


def test_lazy_adagrad_equals_dense_adagrad():
    """Rows a batch does not touch have a zero gradient, so row-wise Adagrad is dense Adagrad
    exactly (no weight decay), whichever rows each batch looks up."""
    from dcnmix_jax.optim import torch_adagrad
    model, v = _small()
    # (batch 2 repeats a row with one label: opposite labels would cancel its gradient to
    # rounding noise, which Adagrad's first step scales to a full step of either sign)
    batches = [(np.array([[0, 3, 6], [1, 4, 7]], np.int32), np.array([1, 0], np.float32)),
               (np.array([[2, 5, 8], [2, 5, 8]], np.int32), np.array([1, 1], np.float32))]
    dense = create_state(model, copy(v), torch_adagrad(1e-1), jax.random.key(1))
    lazy = create_lazy_state(model, copy(v), torch_adagrad(1e-1), jax.random.key(1), lr=1e-1,
                             optimizer="adagrad")
    for step in range(6):
        dense, _ = train_step(dense, *batches[step % 2])
        lazy, _ = lazy_train_step(lazy, *batches[step % 2])
    table = np.asarray(dense.params["embedding"]["embedding"])
    assert np.abs(table - np.asarray(v["params"]["embedding"]["embedding"])).min() > 1e-3  # all moved
    np.testing.assert_allclose(np.asarray(lazy.table), table, atol=1e-6)
    np.testing.assert_allclose(np.asarray(lazy.slots["sum"]),
                               np.asarray(dense.opt_state[0].sum_of_squares["embedding"]["embedding"]),
                               rtol=1e-5)


def test_embedding_weight_decay_matches_torch_parameter_groups():
    from dcnmix_torch import DCN as TorchDCN
    from dcnmix.config import TrainConfig
    from dcnmix_torch.optim import make_optimizer
    from dcnmix_torch.steps import train_step as torch_step
    from parity.checks import is_pre_bn_bias
    from parity.convert import flax_to_arrays, torch_to_flax
    torch.manual_seed(0)
    tmodel = TorchDCN(field_num=3, feat_dim=9, emb_num=4, order_num=1, hidden_nums=(8,), dropout=0.0)
    v = torch_to_flax(tmodel.state_dict())
    model = DCN(field_num=3, feat_dim=9, emb_num=4, order_num=1, hidden_nums=(8,), dropout=0.0)
    state = create_state(model, v, torch_adam(1e-2, weight_decay=0.01, emb_weight_decay=0.5),
                         jax.random.key(0))
    opt = make_optimizer(tmodel, TrainConfig(lr=1e-2, weight_decay=0.01, emb_weight_decay=0.5))
    ids = np.random.default_rng(0).integers(0, 9, (16, 3)).astype(np.int32)
    y = (np.arange(16) % 2).astype(np.float32)
    for _ in range(3):
        state, _ = train_step(state, ids, y)
        torch_step(tmodel, opt, ids, y)
    a = flax_to_arrays({"params": state.params, "batch_stats": state.batch_stats})
    b = {k: t.detach().numpy() for k, t in tmodel.state_dict().items()}
    for k in b:
        if not is_pre_bn_bias(k) and not k.endswith("tracked"):
            np.testing.assert_allclose(a[k], b[k], atol=2e-5, err_msg=k)
    # the decay really applied: the twin without it ends elsewhere
    torch.manual_seed(0)
    plain = TorchDCN(field_num=3, feat_dim=9, emb_num=4, order_num=1, hidden_nums=(8,), dropout=0.0)
    opt = make_optimizer(plain, TrainConfig(lr=1e-2, weight_decay=0.01))
    for _ in range(3):
        torch_step(plain, opt, ids, y)
    emb = "embedding.embedding.weight"
    assert np.abs(plain.state_dict()[emb].numpy() - a[emb]).max() > 1e-3


def test_no_recompilation_between_epochs(tmp_path):
    from dcnmix.config import ModelConfig
    from dcnmix.data import load_splits
    from dcnmix_jax.steps import predict_batch, train_step as one_step, train_steps
    from dcnmix.config import TrainConfig
    from dcnmix.loop import fit
    splits = load_splits("synthetic", synthetic_rows=3000)  # 2400 rows: 9 full batches + 96 rows
    cfg = ModelConfig(field_num=10, feat_dim=72, emb_num=4, order_num=1, r=4, hidden_nums=(16,))
    sizes = []
    record = lambda *_: sizes.append((train_steps._cache_size(), one_step._cache_size(),
                                      predict_batch._cache_size()))
    fit(cfg, TrainConfig(epochs=4, batch_size=256, patience=100), splits, str(tmp_path),
        progress=False, log=record)
    assert len(sizes) == 4
    assert sizes[0] == sizes[1] == sizes[2] == sizes[3], sizes  # epochs 2-4 compiled nothing


FAULTS = """
import resource, sys
import jax, numpy as np
import dcnmix_jax
from dcnmix_jax.steps import create_state, train_step
model = dcnmix_jax.DCN(field_num=10, feat_dim=72, emb_num=16, order_num=2)
ids = np.random.default_rng(0).integers(0, 72, (4096, 10)).astype(np.int32)
labels = (np.arange(4096) % 2).astype(np.float32)
state = create_state(model, model.init(jax.random.key(0), ids[:2]), dcnmix_jax.torch_adam(1e-3),
                     jax.random.key(1))

def faults_per_step(state):
    for _ in range(16):     # the heap settles within a few steps of the call (8 once fell short
                            # in CI, with the other xdist worker busy: 6.5k faults a step left)
        state, loss = train_step(state, ids, labels)
    loss.block_until_ready()
    windows = []            # the quietest of 4 windows of 3 steps: the other xdist worker's
    for _ in range(4):      # load (a Spark job) once left a window at 3.2k faults a step
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            state, loss = train_step(state, ids, labels)
        loss.block_until_ready()
        windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
    return state, min(windows)

state, faults = faults_per_step(state)
print(dcnmix_jax.applied_on_import, faults)
"""


def test_keep_freed_memory_stops_the_steps_page_faults():
    """A jitted step's 46 MB scratch buffer was mmapped afresh on every call (11k page
    faults a step, the per-step path's 1.4x gap to lax.scan). `import dcnmix_jax` now keeps
    freed memory, so a plain loop reuses the block; DCNMIX_KEEP_FREED_MEMORY=0 opts out.
    Linux + glibc only (elsewhere the function says it did nothing)."""
    import os
    import subprocess
    import sys
    from conftest import missing

    def run(**env):
        out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                             check=True, env={**os.environ, **env}).stdout.split()
        return out[0], float(out[1])
    applied, kept = run()
    opted_out, plain = run(DCNMIX_KEEP_FREED_MEMORY="0")
    if applied == "False" and opted_out == "False":    # not glibc (macOS, musl)
        missing("keep_freed_memory needs glibc (CI runs on glibc Linux, where this must pass)")
    assert (applied, opted_out) == ("True", "False")
    assert plain > 5000 and kept < plain / 20, (plain, kept)


BIG = """
import resource
import jax, jax.numpy as jnp
import dcnmix_jax
x = jnp.ones((5000, 16))
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum())      # a 100 MB product, made on an XLA thread
for _ in range(5):
    f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    f(x).block_until_ready()
print(dcnmix_jax.applied_on_import, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
"""


def test_a_buffer_over_the_thread_arena_cap_is_reused_too():
    """glibc's per-thread arenas hold at most 64 MB: XLA's worker threads mapped a larger
    buffer afresh on every call (the Criteo-like step's 256 MB: 63k faults a step) until
    keep_freed_memory gave every thread the one arena."""
    import os
    import subprocess
    import sys
    from conftest import missing

    def run(**env):
        out = subprocess.run([sys.executable, "-c", BIG], capture_output=True, text=True,
                             check=True, env={**os.environ, **env}).stdout.split()
        return out[0], float(out[1])
    (applied, kept), (_, plain) = run(), run(DCNMIX_KEEP_FREED_MEMORY="0")
    if applied == "False":
        missing("keep_freed_memory needs glibc (CI runs on glibc Linux, where this must pass)")
    assert plain > 5000 and kept < plain / 20, (plain, kept)
