"""The DCN-V2 paper's training options in both frameworks' trainers: --init he_normal draws
every Linear weight from N(0, 2 / fan_in) and nothing else, --ema evaluates and saves the
moving average of the parameters (torch's AveragedModel arithmetic, kept across a resume),
and the options' refusals. Their float64 training parity: parity.checks.paper_rows
(tests/test_parity.py's quick run, tests/test_registry.py)."""
import numpy as np
import pytest

from dcnmix.config import ConfigError, ModelConfig, TrainConfig
from dcnmix.data import synthetic
from dcnmix.loop import make_trainer

FRAMEWORKS = ("jax", "torch")
CFG = ModelConfig.create(model="dnn", field_num=10, feat_dim=72, emb_num=16,
                         hidden_nums=(256, 128))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_he_normal_draws_every_linear_weight_and_nothing_else(framework):
    from dcnmix.models import linear_weights
    seed = make_trainer(framework, CFG, TrainConfig()).arrays()
    he = make_trainer(framework, CFG, TrainConfig(init="he_normal")).arrays()
    kernels = {e.torch_key for e in linear_weights(CFG)}
    assert kernels == {"tower.dense_0.weight", "tower.dense_1.weight", "tower.out.weight"}
    for key, value in he.items():
        if key not in kernels:
            assert np.array_equal(value, seed[key]), key     # embeddings, biases, BatchNorm
            continue
        fan_in = value.shape[1]
        assert not np.array_equal(value, seed[key])
        if value.size > 10_000:       # the two wide layers: their std is N(0, 2 / fan_in)'s
            assert value.std() == pytest.approx((2 / fan_in) ** 0.5, rel=0.03), key
            assert abs(value.mean()) < 0.01 * value.std() * 10


def _raw(trainer) -> dict:
    """The trainer's current (not averaged) weights, torch-keyed."""
    if trainer.name == "torch":
        return {k: v.detach().numpy().copy() for k, v in trainer.model.state_dict().items()}
    from dcnmix.layout import flax_to_arrays
    import jax
    state = jax.device_get(trainer.state)
    return flax_to_arrays({"params": state.params, "batch_stats": state.batch_stats}, CFG)


def _steps(trainer, data, batches):
    for b in batches:
        for _ in trainer.train_chunks(data, [b]):
            pass


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ema_evaluates_and_saves_the_moving_average(framework):
    """Each step's weights averaged as AveragedModel(get_ema_multi_avg_fn(0.5)): the first
    copied, then e <- e + 0.5 (p - e); BatchNorm statistics the model's own; predict scores
    the average; a restored state goes on averaging exactly as the one it came from."""
    data = synthetic(n=1024, seed=0)
    batches = np.arange(1024).reshape(8, 128)
    tc = TrainConfig(ema=0.5, seed=3, batch_size=128)
    trainer = make_trainer(framework, CFG, tc)
    expected = None
    for b in batches[:4]:
        _steps(trainer, data, [b])
        raw = _raw(trainer)
        expected = dict(raw) if expected is None else {
            k: (raw[k] if "running" in k or "num_batches" in k else e + 0.5 * (raw[k] - e))
            for k, e in expected.items()}
    got = trainer.arrays()
    assert not np.allclose(got["tower.dense_0.weight"], raw["tower.dense_0.weight"])
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-5, atol=1e-6, err_msg=k)
    plain = make_trainer(framework, CFG, TrainConfig(seed=3, batch_size=128))
    plain.load_arrays(got)
    np.testing.assert_allclose(trainer.predict(data.ids[:256]), plain.predict(data.ids[:256]),
                               rtol=1e-6)
    saved = trainer.state_bytes()
    _steps(trainer, data, batches[4:6])
    again = make_trainer(framework, CFG, tc)
    again.restore_state(saved)      # (torch's random state is global: restored here)
    _steps(again, data, batches[4:6])
    for k, v in trainer.arrays().items():
        np.testing.assert_array_equal(again.arrays()[k], v, err_msg=k)


def test_the_paper_options_are_checked():
    with pytest.raises(ConfigError, match="ema must be a decay in"):
        TrainConfig(ema=1.0)
    with pytest.raises(ConfigError, match="lazy"):
        TrainConfig(ema=0.99, embedding_optimizer="lazy")
    with pytest.raises(ConfigError, match="unknown init"):
        TrainConfig(init="glorot")
    assert TrainConfig(ema=0.9999, init="he_normal").to_dict()["ema"] == 0.9999
    assert "ema" not in TrainConfig().to_dict() and "init" not in TrainConfig().to_dict()
    with pytest.raises(ConfigError, match="not divisible by 3 heads"):
        ModelConfig.create(model="autoint", field_num=10, feat_dim=72, heads=3)
    with pytest.raises(ConfigError, match="cin_nums is an option of model xdeepfm"):
        ModelConfig.create(model="dlrm", field_num=10, feat_dim=72, cin_nums=(8,))
