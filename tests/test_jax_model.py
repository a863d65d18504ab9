"""dcnmix_jax: shapes, counts, initialisers and each layer against a float64 numpy reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dcnmix_jax.batchnorm import TorchBatchNorm
from dcnmix_jax.cross import CrossNet, FullCross, MixCross
from dcnmix_jax.model import DCN, count_params

import numpy_reference as ref

SEED_CFG = dict(field_num=10, feat_dim=72, emb_num=16)


def _ids(batch, seed=0, feat_dim=72, fields=10):
    return jnp.asarray(np.random.default_rng(seed).integers(0, feat_dim, (batch, fields)), jnp.int32)


def _perturbed(variables, seed=1):
    """Move every leaf (BN stats and affine params included) away from its initial value."""
    leaves, tree = jax.tree_util.tree_flatten(variables)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [x + 0.1 * jax.random.normal(k, x.shape) if jnp.issubdtype(x.dtype, jnp.floating) else x
           for x, k in zip(leaves, keys)]
    new = jax.tree_util.tree_unflatten(tree, new)
    for bn in new["batch_stats"]["dnn"].values():
        bn["var"] = jnp.abs(bn["var"]) + 0.5
    return new


@pytest.mark.parametrize("cross,method,order,expected", [
    ("mix", "parallel", 1, 54_501), ("mix", "stacked", 3, 97_869),
    ("full", "parallel", 3, 110_017), ("full", "stacked", 3, 109_857)])
def test_parameter_counts_equal_the_seed_table(cross, method, order, expected):
    model = DCN(**SEED_CFG, order_num=order, method=method, cross=cross)
    variables = model.init(jax.random.key(0), _ids(2))
    assert count_params(variables["params"]) == expected


@pytest.mark.parametrize("mixture", ["gemm", "experts"])
def test_mix_cross_layer_matches_formula(mixture):
    layer = MixCross(r=3, k=4, mixture=mixture)
    rng = np.random.default_rng(0)
    x0, xl = (jnp.asarray(rng.normal(size=(6, 10)), jnp.float32) for _ in range(2))
    params = layer.init(jax.random.key(1), x0, xl)["params"]
    got = layer.apply({"params": params}, x0, xl)
    want = ref.mix_cross(ref.f64(params), np.float64(x0), np.float64(xl))
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6, rtol=0)


def test_full_cross_and_cross_net_match_formula():
    rng = np.random.default_rng(0)
    x0 = jnp.asarray(rng.normal(size=(5, 12)), jnp.float32)
    layer = FullCross()
    p = layer.init(jax.random.key(0), x0, x0)["params"]
    np.testing.assert_allclose(np.asarray(layer.apply({"params": p}, x0, x0)),
                               ref.full_cross(ref.f64(p), np.float64(x0), np.float64(x0)), atol=1e-6)
    for cross, fn in [("mix", ref.mix_cross), ("full", ref.full_cross)]:
        net = CrossNet(order_num=3, r=2, k=3, cross=cross)
        p = net.init(jax.random.key(2), x0)["params"]
        want = x = np.float64(x0)
        for i in range(3):
            want = fn(ref.f64(p[f"layers_{i}"]), x, want)
        np.testing.assert_allclose(np.asarray(net.apply({"params": p}, x0)), want, rtol=1e-5, atol=1e-5)


def test_torch_batchnorm_train_eval_and_running_statistics():
    bn = TorchBatchNorm()
    x = jnp.asarray(np.random.default_rng(0).normal(2.0, 3.0, size=(8, 5)), jnp.float32)
    variables = bn.init(jax.random.key(0), x)
    p = {"scale": jnp.linspace(0.5, 1.5, 5), "bias": jnp.linspace(-1, 1, 5)}
    stats = {"mean": jnp.full(5, 0.3), "var": jnp.full(5, 2.0), "count": jnp.int32(4)}
    y, upd = bn.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
    want_y, want_stats = ref.batchnorm(ref.f64(p), ref.f64({k: stats[k] for k in ("mean", "var")}),
                                       np.float64(x), train=True)
    np.testing.assert_allclose(np.asarray(y), want_y, atol=1e-6)
    for k in ("mean", "var"):  # running var is the unbiased one, as torch keeps
        np.testing.assert_allclose(np.asarray(upd["batch_stats"][k]), want_stats[k], rtol=1e-6)
    assert int(upd["batch_stats"]["count"]) == 5
    y_eval = bn.apply({"params": p, "batch_stats": stats}, x, train=False)
    want_eval, _ = ref.batchnorm(ref.f64(p), ref.f64({k: stats[k] for k in ("mean", "var")}),
                                 np.float64(x), train=False)
    np.testing.assert_allclose(np.asarray(y_eval), want_eval, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bn.apply({"params": p, "batch_stats": stats}, x[:1], train=True, mutable=["batch_stats"])


@pytest.mark.parametrize("cross", ["mix", "full"])
@pytest.mark.parametrize("method", ["parallel", "stacked"])
def test_whole_model_matches_reference_in_eval_and_train(cross, method):
    model = DCN(**SEED_CFG, order_num=2, method=method, cross=cross, dropout=0.0)
    ids = _ids(16)
    variables = _perturbed(model.init(jax.random.key(0), ids))
    got = model.apply(variables, ids, method=DCN.logits)
    np.testing.assert_allclose(np.asarray(got), ref.dcn_logits(variables, ids, method, cross),
                               rtol=1e-5, atol=1e-5)
    probs = model.apply(variables, ids)
    np.testing.assert_allclose(np.asarray(probs), np.asarray(jax.nn.sigmoid(got)), atol=1e-7)
    train_logits, _ = model.apply(variables, ids, train=True, method=DCN.logits,
                                  rngs={"dropout": jax.random.key(3)}, mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(train_logits),
                               ref.dcn_logits(variables, ids, method, cross, train=True),
                               rtol=1e-5, atol=1e-5)


def test_init_distributions_follow_the_seed():
    model = DCN(field_num=10, feat_dim=400, emb_num=16, order_num=2, r=16, k=4)
    p = model.init(jax.random.key(0), _ids(4, feat_dim=400))["params"]
    m, r = 160, 16
    layer = p["cross_net"]["layers_0"]

    def close(a, std, tol=0.06):
        a = np.asarray(a).ravel()
        assert abs(a.mean()) < 3 * std / np.sqrt(a.size) + 1e-3
        assert abs(a.std() / std - 1) < tol, (a.std(), std)

    close(layer["u"], np.sqrt(2 / (m + r)))
    close(layer["v"], np.sqrt(2 / (m + r)))
    close(layer["b"], 1.0, tol=0.1)
    close(layer["gate"]["kernel"], np.sqrt(2 / (m + 4)), tol=0.1)
    close(p["embedding"]["embedding"], np.sqrt(2 / (400 + 16)))
    close(p["dnn"]["dense_0"]["kernel"], np.sqrt(2 / (160 + 128)))
    close(p["linear"]["kernel"], np.sqrt(2 / (192 + 1)), tol=0.25)
    # untruncated: a normal sample of this size has values beyond 2 std (truncation cuts them)
    u = np.asarray(layer["u"]).ravel() / np.sqrt(2 / (m + r))
    assert (np.abs(u) > 2.5).mean() > 0.005
    bias = np.asarray(p["dnn"]["dense_0"]["bias"])
    assert np.abs(bias).max() <= 1 / np.sqrt(160) and np.abs(bias).max() > 0.8 / np.sqrt(160)
    assert np.all(np.asarray(p["dnn"]["bn_0"]["scale"]) == 1)
    assert np.all(np.asarray(p["dnn"]["bn_0"]["bias"]) == 0)
    for name in ("u", "v", "b"):
        experts = np.asarray(layer[name]).reshape(4, -1)
        assert all(not np.allclose(experts[i], experts[j]) for i in range(4) for j in range(i))
    assert not np.allclose(np.asarray(p["cross_net"]["layers_0"]["u"]),
                           np.asarray(p["cross_net"]["layers_1"]["u"]))


def test_jit_grad_vmap_and_batch_of_one():
    model = DCN(**SEED_CFG, order_num=2)
    ids = _ids(8)
    variables = model.init(jax.random.key(0), ids)
    fwd = jax.jit(lambda v, x: model.apply(v, x))
    np.testing.assert_allclose(np.asarray(fwd(variables, ids)), np.asarray(model.apply(variables, ids)),
                               atol=1e-6)
    one = fwd(variables, ids[:1])
    assert one.shape == (1,) and np.isfinite(np.asarray(one)).all()
    assert fwd(variables, ids[:0]).shape == (0,)            # no rows in, no rows out

    def loss(params, x, y):
        z, _ = model.apply({**variables, "params": params}, x, train=True, method=DCN.logits,
                           rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"])
        return jnp.mean(jnp.logaddexp(0, z) - y * z)

    grads = jax.jit(jax.grad(loss))(variables["params"], ids, jnp.ones(8))
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))
    assert float(jnp.abs(grads["cross_net"]["layers_0"]["u"]).sum()) > 0
    per_row = jax.vmap(lambda x: model.apply(variables, x[None])[0])(ids)
    np.testing.assert_allclose(np.asarray(per_row), np.asarray(model.apply(variables, ids)), atol=1e-6)


def test_dropout_needs_and_uses_its_rng():
    model = DCN(**SEED_CFG, order_num=1, dropout=0.5)
    ids = _ids(32)
    v = model.init(jax.random.key(0), ids)
    run = lambda k: model.apply(v, ids, train=True, rngs={"dropout": k}, mutable=["batch_stats"])[0]
    assert not np.allclose(np.asarray(run(jax.random.key(1))), np.asarray(run(jax.random.key(2))))
    np.testing.assert_array_equal(np.asarray(run(jax.random.key(1))), np.asarray(run(jax.random.key(1))))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_hash_dropout_masks_have_the_documented_distribution(rate):
    from dcnmix_jax.dropout import Dropout, keep_mask, lowbias32
    values = np.random.default_rng(0).integers(0, 2**32, 1000, dtype=np.uint64)
    expected = []
    for h in map(int, values):                 # the documented formula, in Python integers
        h = ((h ^ (h >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
        h = ((h ^ (h >> 15)) * 0x846CA68B) & 0xFFFFFFFF
        expected.append(h ^ (h >> 16))
    assert np.asarray(lowbias32(jnp.asarray(values, jnp.uint32))).tolist() == expected
    masks = np.stack([np.asarray(keep_mask(jax.random.key(s), (512, 128), rate)) for s in range(8)])
    n = masks[0].size
    for m in masks:                            # keep share within 5 binomial sigmas
        assert abs(m.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    # masks of different keys are unrelated: the joint keep share is the product
    joint = (masks[0] & masks[1]).mean()
    assert abs(joint - (1 - rate) ** 2) < 5 * np.sqrt((1 - rate) ** 2 * (1 - (1 - rate) ** 2) / n)
    # rows and columns are not patterned: per-column keep shares spread like binomials
    cols = masks[0].mean(0)
    assert cols.std() < 2 * np.sqrt(rate * (1 - rate) / 512)
    x = jnp.ones((512, 128))
    y = Dropout(rate).apply({}, x, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / (1 - rate), rtol=1e-6)
    np.testing.assert_array_equal(kept, np.asarray(keep_mask(_dropout_key(jax.random.key(0)),
                                                             (512, 128), rate)))
    assert np.asarray(Dropout(rate, deterministic=True).apply({}, x)).min() == 1


def _dropout_key(root):
    """The key flax's make_rng('dropout') gives a top-level module."""
    from flax import linen as nn

    class Probe(nn.Module):
        @nn.compact
        def __call__(self):
            return self.make_rng("dropout")
    return Probe().apply({}, rngs={"dropout": root})


def test_bfloat16_compute_is_finite_and_close_to_float32():
    ids = _ids(64)
    f32 = DCN(**SEED_CFG, order_num=2)
    bf16 = DCN(**SEED_CFG, order_num=2, dtype=jnp.bfloat16)
    variables = f32.init(jax.random.key(0), ids)
    a = np.asarray(f32.apply(variables, ids))
    b = np.asarray(bf16.apply(variables, ids))
    assert b.dtype == np.float32 and np.isfinite(b).all()
    assert np.abs(a - b).max() < 0.05
    assert jax.tree_util.tree_leaves(bf16.init(jax.random.key(0), ids)["params"])[0].dtype == jnp.float32


def test_bad_configuration_and_shapes_are_refused():
    with pytest.raises(ValueError, match="combine type"):
        DCN(**SEED_CFG, order_num=1, method="serial")
    with pytest.raises(ValueError, match="cross type"):
        DCN(**SEED_CFG, order_num=1, cross="low")
    model = DCN(**SEED_CFG, order_num=1)
    with pytest.raises(ValueError, match=r"shape \[batch, 10\]"):
        model.init(jax.random.key(0), _ids(4, fields=9))
