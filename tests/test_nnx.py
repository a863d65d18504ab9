"""Flax NNX modules (dcnmix_jax.nnx) against linen and the twin, the mixture's vmap form, the
NNX training loop, weight movement and its errors."""
import dataclasses

import numpy as np
import pytest

from parity import nnx as pn
from parity.checks import config_for, name, variant_config
from parity.models import NAMES, config

# the seed's layer, and the deepctr preset (shared gate, no gate bias, per-layer bias, tanh,
# C matrix); every grid configuration and variant: `python -m parity --nnx-only` (docs/parity.md)
CONFIGS = {"mix-parallel-2": config_for(2, "parallel", "mix"),
           "deepctr": variant_config(2, "parallel", preset="deepctr")}


def _assert(rows):
    failed = [r for r in rows if not r.passed]
    assert rows and not failed, failed


@pytest.mark.parametrize("key", CONFIGS)
def test_nnx_equals_linen_bit_for_bit_and_the_twin(key):
    """Eval probabilities equal linen's exactly (gemm and vmap forms) and the twin's <= 1e-6;
    weights torch -> linen -> NNX -> torch bit-exact; gradients <= 1e-5 of linen's."""
    cfg = CONFIGS[key]
    rows = []
    for mixture in ("gemm", "vmap") if cfg.cross == "mix" else ("gemm",):   # full: no experts
        rows += pn.forward_rows(cfg, name(cfg), mixture) + pn.gradient_rows(cfg, name(cfg), mixture)
    _assert(rows + (pn.vmap_rows(cfg, name(cfg)) if cfg.cross == "mix" else []))


@pytest.mark.parametrize("case", [c for c in NAMES if "+" not in c] + ["dcn+typed", "deepfm+typed"])
def test_every_registered_model_has_an_equal_nnx_module(case):
    _assert(pn.forward_rows(config(case), case))


def test_float64_training_of_nnx_and_linen_is_identical_per_epoch():
    from dcnmix.data import split, synthetic
    train, valid, _ = split(synthetic(n=3000, seed=0), (0.8, 0.1, 0.1), seed=0)
    rows = pn.training_rows(CONFIGS["mix-parallel-2"], "mix-parallel-2", train, valid)
    _assert(rows)
    assert rows[0].error == 0.0 and rows[1].error == 0.0


def _data(n=2048, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 72, (n, 10)).astype(np.int32)
    return ids, ((ids[:, 0] + ids[:, 3]) % 2).astype(np.float32)


def test_an_nnx_optimizer_loop_lowers_the_loss_and_the_fast_form_matches_it():
    import optax
    from flax import nnx
    from dcnmix_jax.nnx import DCN, fast_step, train_step
    ids, labels = _data()

    def run(fast: bool):
        model = DCN(10, 72, 16, 2, dropout=0.0, rngs=nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
        model.train()
        if fast:
            step, state, write_back = fast_step(model, optimizer)
            losses = []
            for _ in range(30):
                state, loss = step(state, ids, labels)
                losses.append(float(loss))
            write_back(state)
        else:
            losses = [float(train_step(model, optimizer, ids, labels)) for _ in range(30)]
        model.eval()
        return losses, np.asarray(model(ids))

    slow, fast = run(False), run(True)
    assert slow[0][-1] < 0.5 * slow[0][0]
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5)
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-5)


def test_train_and_eval_modes_switch_dropout_and_batch_statistics():
    from flax import nnx
    from dcnmix_jax.nnx import DCN
    ids, _ = _data(256)
    model = DCN(10, 72, 16, 2, rngs=nnx.Rngs(0))
    before = np.asarray(model.dnn.bn_0.mean[...]).copy()
    first = np.asarray(model(ids))
    np.testing.assert_array_equal(np.asarray(model(ids)), first)       # eval: deterministic
    np.testing.assert_array_equal(np.asarray(model.dnn.bn_0.mean[...]), before)
    model.train()
    a, b = np.asarray(model(ids)), np.asarray(model(ids))
    assert not np.array_equal(a, b)                                     # new dropout masks
    assert int(model.dnn.bn_0.count[...]) == 2 and not np.array_equal(model.dnn.bn_0.mean[...], before)


def test_round_trip_is_exact_and_mismatches_name_the_path():
    import jax
    from flax import nnx
    from flax.traverse_util import flatten_dict
    from dcnmix_jax.model import model_for
    from dcnmix_jax.nnx import from_linen, to_linen
    from dcnmix_jax.nnx import model_for as nnx_model_for
    cfg = CONFIGS["deepctr"]
    for mixture in ("gemm", "vmap"):
        ids, _ = _data(8)
        variables = model_for(cfg, mixture=mixture).init(jax.random.key(3), ids)
        back = to_linen(from_linen(variables, nnx_model_for(cfg, mixture=mixture, rngs=nnx.Rngs(1))))
        a, b = flatten_dict(variables), flatten_dict(back)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    model = nnx_model_for(cfg, rngs=nnx.Rngs(1))
    broken = jax.tree_util.tree_map(lambda x: x, variables)
    del broken["params"]["linear"]
    with pytest.raises(ValueError, match="missing.*params/linear/bias"):
        from_linen(broken, model)
    wrong = nnx_model_for(dataclasses.replace(cfg, emb_num=8), rngs=nnx.Rngs(1))
    with pytest.raises(ValueError, match=r"params/\S+: the model has shape \[\d+, \d+\], the variables \[\d+, \d+\]"):
        from_linen(variables, wrong)


def test_load_run_api_nnx_refuses_an_unknown_api(tmp_path):
    import dcnmix
    with pytest.raises(ValueError, match="api='keras'.*jax backend offers \\('linen', 'nnx'\\)"):
        dcnmix.load_run(tmp_path, api="keras")
