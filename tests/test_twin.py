"""The PyTorch twin equals the seed article's code: names, counts, outputs."""
import itertools

import pytest
import torch

from dcnmix_torch import DCN, count_params

SEED_CFG = dict(field_num=10, feat_dim=72, emb_num=16)
GRID = list(itertools.product([1, 2, 3, 4], ["parallel", "stacked"]))


@pytest.mark.parametrize("cross,method,order,expected", [
    ("mix", "parallel", 1, 54_501), ("mix", "stacked", 3, 97_869),
    ("full", "parallel", 3, 110_017), ("full", "stacked", 3, 109_857)])
def test_parameter_counts_equal_the_seed_table(cross, method, order, expected):
    model = DCN(**SEED_CFG, order_num=order, method=method, cross=cross)
    assert count_params(model) == expected


def _ids(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 72, (batch, 10), generator=g)


@pytest.mark.parametrize("order,method", GRID)
def test_twin_matches_seed_code(seed_module, order, method):
    torch.manual_seed(0)
    seed_model = seed_module.DCN(**SEED_CFG, order_num=order, method=method)
    twin = DCN(**SEED_CFG, order_num=order, method=method)
    assert list(twin.state_dict()) == list(seed_model.state_dict())
    twin.load_state_dict(seed_model.state_dict(), strict=True)
    x = _ids(64)
    seed_model.eval(); twin.eval()
    with torch.no_grad():
        assert torch.equal(seed_model(x), twin(x))
    seed_model.train(); twin.train()
    torch.manual_seed(123)
    expected = seed_model(x)
    torch.manual_seed(123)
    got = twin(x)
    assert torch.equal(expected, got)
    # and the running statistics moved identically
    for (k, a), b in zip(seed_model.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), k


def test_same_seed_gives_same_initialisation_as_seed_code(seed_module):
    torch.manual_seed(7)
    a = seed_module.DCN(**SEED_CFG, order_num=2).state_dict()
    torch.manual_seed(7)
    b = DCN(**SEED_CFG, order_num=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cross", ["mix", "full"])
@pytest.mark.parametrize("method", ["parallel", "stacked"])
def test_batch_size_one_and_logits(cross, method):
    model = DCN(**SEED_CFG, order_num=2, method=method, cross=cross).eval()
    x = _ids(1)
    with torch.no_grad():
        p, z = model(x), model.logits(x)
    assert p.shape == (1,) and z.shape == (1,)
    assert torch.allclose(torch.sigmoid(z), p)


def test_full_cross_formula():
    torch.manual_seed(0)
    model = DCN(**SEED_CFG, order_num=1, cross="full")
    cell = model.cross_net.cell_list[0]
    x0 = torch.randn(5, 160, dtype=torch.float64)
    w, b = cell.w.double(), cell.b.double().squeeze(1)
    expected = x0 * (x0 @ w.T + b) + x0
    assert torch.allclose(model.cross_net.double()(x0), expected, atol=1e-12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="combine type"):
        DCN(**SEED_CFG, order_num=1, method="serial")
    with pytest.raises(ValueError, match="cross type"):
        DCN(**SEED_CFG, order_num=1, cross="lowrank")
