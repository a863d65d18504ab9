"""DCN-Mix variants: options and presets in both frameworks, and weights imported from
DeepCTR-Torch and torchrec giving the libraries' own outputs."""
import dataclasses

import numpy as np
import pytest
import torch

from dcnmix.config import INITS, PRESETS, ModelConfig
from parity.checks import SEED_SHAPE, VARIANTS, jax_model, random_ids, torch_model, variant_config
from parity.convert import flax_to_arrays, torch_to_flax
from parity.importers import from_deepctr, from_torchrec
from dcnmix.layout import LayoutError, infer_config


def _x64():
    import jax
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else __import__(
        "jax.experimental", fromlist=["enable_x64"]).enable_x64()


def test_seed_preset_is_the_default_and_counts_are_unchanged():
    cfg = ModelConfig(**SEED_SHAPE, order_num=1)
    assert cfg.preset_name() == "seed" and ModelConfig.preset("seed", **SEED_SHAPE, order_num=1) == cfg
    from dcnmix_torch.model import DCN, count_params
    assert count_params(DCN(**cfg.kwargs())) == 54_501


@pytest.mark.parametrize("options", VARIANTS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()))
def test_variant_forward_equal_in_both_frameworks_float64(options):
    cfg = variant_config(3, "stacked", **options)
    model = torch_model(cfg, seed=1).double().eval()
    ids = random_ids(cfg, 64, 2)
    want = model(torch.as_tensor(ids, dtype=torch.long)).detach().numpy()
    with _x64():
        got = np.asarray(jax_model(cfg).apply(torch_to_flax(model.state_dict(), cfg), ids))
    assert np.abs(got - want).max() < 1e-12
    # the layout has exactly the model's tensors, in both frameworks
    import jax
    assert set(flax_to_arrays(torch_to_flax(model.state_dict(), cfg), cfg)) == set(model.state_dict())
    j_params = jax_model(cfg).init(jax.random.key(0), ids[:2])["params"]
    assert sum(x.size for x in jax.tree_util.tree_leaves(j_params)) == \
        sum(p.numel() for p in model.parameters())


def test_shape_inference_reads_the_variant_from_the_weights():
    for options in VARIANTS:
        cfg = variant_config(2, "parallel", **options)
        shapes = {k: tuple(v.shape) for k, v in torch_model(cfg, 0, perturb=False).state_dict().items()}
        got = infer_config(shapes, dropout=0.0, gate=cfg.variant.gate,
                           activation=cfg.variant.activation, init_scheme=cfg.variant.init_scheme)
        assert got == cfg, options
    with pytest.raises(LayoutError, match="constant"):
        infer_config({k: tuple(v.shape) for k, v in torch_model(
            variant_config(1, "parallel"), 0, perturb=False).state_dict().items()}, gate="constant")


def test_bad_variant_options_are_named():
    for bad, match in (({"gate": "max"}, "gate"), ({"activation": "gelu"}, "activation"),
                       ({"init_scheme": "he"}, "init_scheme"), ({"c_matrix": 1}, "c_matrix")):
        with pytest.raises(ValueError, match=match):
            ModelConfig.create(**SEED_SHAPE, order_num=1, **bad)
    with pytest.raises(ValueError, match="cross='mix'"):
        ModelConfig.preset("deepctr", **SEED_SHAPE, order_num=1, cross="full")
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig.preset("keras", **SEED_SHAPE, order_num=1)


# ---------------------------------------------------------------- initialisation per preset
def _stds(params: dict, names) -> dict:
    return {n: float(np.std(np.concatenate([np.ravel(p[n]) for p in params]))) for n in names}


@pytest.mark.parametrize("scheme", INITS)
def test_initialisation_follows_the_scheme_in_both_frameworks(scheme):
    import jax
    m, r, k = 160, 16, 4
    cfg = variant_config(4, "parallel", preset={"seed": "paper"}.get(scheme, scheme))
    assert cfg.variant.init_scheme == scheme
    if scheme == "seed":
        want = {"u": (2 / (m + r)) ** .5, "v": (2 / (m + r)) ** .5, "c": (1 / r) ** .5, "bias": 1.0}
    else:
        want = {"u": (2 / (m * r + k * r)) ** .5, "c": (2 / (r * r + k * r)) ** .5, "bias": 0.0,
                "v": (2 / (m * r + k * r)) ** .5 if scheme == "deepctr" else (2 / (r * m + k * m)) ** .5}
    t_state = {k_: v.numpy() for k_, v in torch_model(cfg, 0, perturb=False).state_dict().items()}
    t_vars = torch_to_flax(t_state, cfg)["params"]["cross_net"]
    j_vars = jax_model(cfg).init(jax.random.key(0), random_ids(cfg, 2, 0))["params"]["cross_net"]
    for tree in (t_vars, j_vars):
        layers = [tree[f"layers_{i}"] for i in range(4)]
        got = _stds(layers, ["u", "v", "c", "bias"])
        for name, std in want.items():
            assert got[name] == pytest.approx(std, rel=0.05, abs=1e-12), (name, got, want)
        gate = tree["gate"]["kernel"] if "gate" in tree else np.stack([l["gate"]["kernel"] for l in layers])
        bound = 1 / m ** .5
        if scheme == "seed":   # xavier normal [M, K]
            assert float(np.std(gate)) == pytest.approx((2 / (m + k)) ** .5, rel=0.1)
        else:                  # torch.nn.Linear's default: U(-1/sqrt(M), 1/sqrt(M))
            assert np.abs(gate).max() <= bound and float(np.std(gate)) == pytest.approx(bound / 3 ** .5, rel=0.1)


# ---------------------------------------------------------------- the peers' own code
def _compare(imported, reference, x: np.ndarray, tol: float):
    with torch.no_grad():
        want = reference(torch.as_tensor(x)).numpy()
        twin = imported.torch_module().to(torch.float64 if x.dtype == np.float64 else torch.float32)
        got_torch = twin(torch.as_tensor(x)).numpy()
    module, variables = imported.flax_module()
    got_jax = np.asarray(module.apply(variables, x))
    assert np.abs(got_torch - want).max() < tol
    assert np.abs(got_jax - want).max() < tol
    return want


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-5)])
def test_deepctr_crossnetmix_weights_give_its_outputs(deepctr, dtype, tol):
    from deepctr_torch.layers import CrossNetMix
    torch.manual_seed(0)
    ref = CrossNetMix(in_features=160, low_rank=16, num_experts=4, layer_num=3)
    with torch.no_grad():
        ref.bias.normal_()                       # its biases start at 0: make them count
    ref = ref.to(torch.float64 if dtype == np.float64 else torch.float32)
    imported = from_deepctr(ref.state_dict())
    assert imported.config.preset_name() == "deepctr"
    x = np.random.default_rng(0).normal(size=(32, 160)).astype(dtype)
    if dtype == np.float64:
        with _x64():
            _compare(imported, ref, x, tol)
    else:
        _compare(imported, ref, x, tol)


def test_deepctr_dcnmix_model_cross_part(deepctr):
    from deepctr_torch.inputs import SparseFeat
    from deepctr_torch.models import DCNMix
    torch.manual_seed(0)
    columns = [SparseFeat(f"f{i}", vocabulary_size=20, embedding_dim=8) for i in range(5)]
    model = DCNMix(columns, columns, cross_num=2, low_rank=8, num_experts=3, device="cpu")
    imported = from_deepctr(model.state_dict())          # finds the 'crossnet.' prefix
    assert (imported.config.order_num, imported.config.k, imported.config.r) == (2, 3, 8)
    x = np.random.default_rng(1).normal(size=(16, 40)).astype(np.float32)
    _compare(imported, model.crossnet, x, 1e-5)


def test_deepctr_init_matches_ours(deepctr):
    from deepctr_torch.layers import CrossNetMix
    torch.manual_seed(0)
    ref = CrossNetMix(in_features=160, low_rank=16, num_experts=4, layer_num=4)
    cfg = variant_config(4, "parallel", preset="deepctr")
    ours = torch_to_flax(torch_model(cfg, 0, perturb=False).state_dict(), cfg)["params"]["cross_net"]
    got = _stds([ours[f"layers_{i}"] for i in range(4)], ["u", "v", "c"])
    for name, theirs in (("u", ref.U_list), ("v", ref.V_list), ("c", ref.C_list)):
        assert got[name] == pytest.approx(float(theirs.detach().std()), rel=0.05), name


@pytest.mark.parametrize("k", [1, 4])
def test_torchrec_lowrank_mixture_weights_give_its_outputs(torchrec_crossnet, k):
    torch.manual_seed(0)
    ref = torchrec_crossnet.LowRankMixtureCrossNet(in_features=160, num_layers=3, num_experts=k,
                                                   low_rank=16).double()
    with torch.no_grad():
        for b in ref.bias:
            b.normal_()
    imported = from_torchrec(ref.state_dict())
    assert imported.config.preset_name() == ("torchrec" if k > 1 else None)
    assert imported.config.variant.gate == ("softmax" if k > 1 else "constant")
    x = np.random.default_rng(0).normal(size=(32, 160))
    with _x64():
        _compare(imported, ref, x, 1e-6)
    if k == 1:
        return
    # its initialisation is the torchrec scheme's (k = 4: enough samples for a 5% std check)
    cfg = variant_config(3, "parallel", preset="torchrec", k=k)
    ours = torch_to_flax(torch_model(cfg, 0, perturb=False).state_dict(), cfg)["params"]["cross_net"]
    got = _stds([ours[f"layers_{i}"] for i in range(3)], ["u", "v", "c"])
    for name, theirs in (("u", ref.U_kernels), ("v", ref.V_kernels), ("c", ref.C_kernels)):
        std = float(torch.cat([p.detach().flatten() for p in theirs]).std())
        assert got[name] == pytest.approx(std, rel=0.05), name


def test_torchrec_other_activation(torchrec_crossnet):
    torch.manual_seed(0)
    ref = torchrec_crossnet.LowRankMixtureCrossNet(40, 2, num_experts=2, low_rank=4,
                                                   activation=torch.tanh)
    imported = from_torchrec(ref.state_dict(), activation="tanh")
    _compare(imported, ref, np.random.default_rng(0).normal(size=(8, 40)).astype(np.float32), 1e-5)


def test_importers_name_what_does_not_fit(deepctr):
    from deepctr_torch.layers import CrossNetMix
    state = CrossNetMix(in_features=20, low_rank=4, num_experts=2, layer_num=1).state_dict()
    state["C_list"] = state["C_list"][:, :, :3]
    with pytest.raises(LayoutError, match="C_list"):
        from_deepctr(state)
    with pytest.raises(LayoutError, match="U_kernels"):
        from_torchrec({"x": np.zeros(1)})


def test_convert_cli_needs_the_variant_of_a_pt_file(tmp_path, capsys):
    """A .pt state_dict holds no config: its layout shows the structure (C, biases, shared
    gates) but not g, so converting a variant without naming it is refused."""
    from parity.__main__ import main
    from parity.files import load_for_jax
    cfg = variant_config(2, "parallel", preset="deepctr")
    model = torch_model(cfg, seed=3).eval()
    src, dst = str(tmp_path / "m.pt"), str(tmp_path / "m.safetensors")
    torch.save(model.state_dict(), src)
    assert main(["convert", src, dst, "--to", "jax"]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["convert", src, dst, "--to", "jax", "--preset", "deepctr"]) == 0
    variables, got = load_for_jax(dst)
    assert got == dataclasses.replace(cfg, dropout=got.dropout)   # dropout is not in weights
    ids = random_ids(cfg, 16, 0)
    want = model(torch.as_tensor(ids, dtype=torch.long)).detach().numpy()
    assert np.abs(np.asarray(jax_model(cfg).apply(variables, ids)) - want).max() < 1e-6


@pytest.mark.parametrize("options", [{"preset": "seed"}, *VARIANTS],
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()))
def test_cross_net_equals_the_papers_formula(options):
    """Every preset and option against a float64 numpy evaluation of E_i = x0 * (U_i g(C_i
    g(V_i^T x_l)) + b), in both frameworks (the paper preset has no library to compare with)."""
    import jax
    import numpy_reference as ref
    from dcnmix_jax.cross import CrossNet
    from dcnmix_torch.model import CrossNet as TorchCrossNet
    cfg = variant_config(3, "parallel", **options)
    kwargs = dict(order_num=3, r=cfg.r, k=cfg.k, cross="mix", variant=cfg.variant)
    x0 = np.random.default_rng(0).normal(size=(16, 160))
    torch.manual_seed(0)
    net = TorchCrossNet(input_num=160, **kwargs).double()
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.1 * torch.randn_like(prm))    # biases off their initial values
    from dcnmix.layout import entries_to_flax
    from dcnmix.layout import cross_layout
    params = entries_to_flax({k: v.numpy() for k, v in net.state_dict().items()},
                             cross_layout(cfg, "", ("params",)), cfg)
    want = ref.variant_cross_net(ref.f64(params["params"]), x0, cfg)
    got_torch = net(torch.as_tensor(x0)).detach().numpy()
    with _x64():
        got_jax = np.asarray(CrossNet(**kwargs).apply(params, x0))
    assert np.abs(got_torch - want).max() < 1e-10
    assert np.abs(got_jax - want).max() < 1e-10
