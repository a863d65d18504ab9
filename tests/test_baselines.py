"""The seed table's baselines (FM, FFM, PNN, DeepFM, NFM) in both frameworks: the seed
table's parameter counts, and float64 training parity (their conversion, forward and
gradient rows run in the quick parity run: tests/test_parity.py)."""
import jax
import numpy as np
import pytest

from dcnmix.data import split, synthetic
from dcnmix_jax import baselines as jax_baselines
from dcnmix_jax.model import count_params
from dcnmix_torch import baselines as torch_baselines
from parity.baselines import NAMES, check_training

# the seed article's table (10 fields, 72 ids); the presets that give them: docs/baselines.md
SEED_COUNTS = {"fm": 361, "ffm": 2_953, "pnn": 29_953, "deepfm": 12_746, "nfm": 10_186}


@pytest.mark.parametrize("name", NAMES)
def test_seed_presets_have_the_seed_tables_parameter_counts(name):
    torch_model = torch_baselines.MODELS[name](10, 72)
    assert sum(p.numel() for p in torch_model.parameters()) == SEED_COUNTS[name]
    module = jax_baselines.MODELS[name](field_num=10, feat_dim=72)
    variables = module.init(jax.random.key(0), np.zeros((2, 10), np.int32))
    assert count_params(variables["params"]) == SEED_COUNTS[name]
    assert module.apply(variables, np.zeros((0, 10), np.int32)).shape == (0,)


@pytest.fixture(scope="module")
def data():
    train, valid, _ = split(synthetic(n=3000, seed=0), (0.8, 0.1, 0.1), seed=0)
    return train, valid


@pytest.mark.parametrize("name", NAMES)
def test_float64_training_gives_the_same_auc_per_epoch(name, data):
    rows = check_training(name, *data)
    failed = [(r.check, r.error, r.bound, r.detail) for r in rows if not r.passed]
    assert not failed
