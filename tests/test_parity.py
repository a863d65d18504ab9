"""parity: conversion both ways, clear errors, files, and the quick parity run."""
import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch

from dcnmix.config import ModelConfig
from dcnmix_jax.model import DCN as JaxDCN, count_params
from dcnmix_torch import DCN as TorchDCN, count_params as torch_count
from dcnmix import weights
from parity.checks import torch_model
from parity.convert import flax_to_arrays, flax_to_torch, torch_to_flax
from parity.files import ConvertError, convert_file, load_for_jax, load_for_torch, save_from_torch
from dcnmix.layout import LayoutError, infer_config

GRID = list(itertools.product([1, 2, 3, 4], ["parallel", "stacked"], ["mix", "full"]))


def cfg_of(order, method, cross, **kw):
    return ModelConfig(**{**dict(field_num=10, feat_dim=72, emb_num=16), **kw},
                       order_num=order, method=method, cross=cross)


@pytest.mark.parametrize("order,method,cross", GRID)
def test_round_trip_is_bit_exact_and_config_is_inferred(order, method, cross):
    cfg = cfg_of(order, method, cross, dropout=0.1)
    model = torch_model(cfg, seed=order)
    state = model.state_dict()
    assert infer_config({k: v.shape for k, v in state.items()}) == cfg
    variables = torch_to_flax(state)
    back = flax_to_torch(variables)
    assert list(back) == list(state)
    assert all(torch.equal(back[k], state[k]) and back[k].dtype == state[k].dtype for k in state)
    again = torch_to_flax(back)
    for a, b in zip(flax_to_arrays(variables).values(), flax_to_arrays(again).values()):
        assert np.array_equal(a, b)
    TorchDCN(**cfg.kwargs()).load_state_dict(back, strict=True)
    jax_params = JaxDCN(**cfg.kwargs()).init(__import__("jax").random.key(0),
                                             np.zeros((2, 10), np.int32))["params"]
    assert count_params(variables["params"]) == torch_count(model) == count_params(jax_params)


def test_non_seed_shapes_round_trip():
    cfg = ModelConfig(field_num=3, feat_dim=50, emb_num=5, order_num=2, r=3, k=2,
                      hidden_nums=(7, 6, 5, 4), method="stacked")
    state = torch_model(cfg, 0).state_dict()
    assert infer_config({k: v.shape for k, v in state.items()}) == cfg
    back = flax_to_torch(torch_to_flax(state))
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_errors_name_the_key_and_both_shapes():
    state = torch_model(cfg_of(2, "parallel", "mix"), 0).state_dict()
    bad = dict(state)
    bad["cross_net.cell_list.1.cross_cell.2.u"] = torch.zeros(160, 8)
    with pytest.raises(LayoutError, match=r"cross_net.cell_list.1.cross_cell.2.u: shape \(160, 8\), "
                                          r"expected \(160, 16\)"):
        torch_to_flax(bad)
    missing = {k: v for k, v in state.items() if k != "dnn.mlp.5.running_var"}
    with pytest.raises(LayoutError, match=r"missing \['dnn.mlp.5.running_var'\]"):
        torch_to_flax(missing)
    extra = {**state, "dnn.extra": torch.zeros(1)}
    with pytest.raises(LayoutError, match=r"unexpected \['dnn.extra'\]"):
        torch_to_flax(extra)
    variables = torch_to_flax(state)
    variables["params"]["linear"]["kernel"] = np.zeros((5, 1), np.float32)
    with pytest.raises(LayoutError, match=r"params/linear/kernel: shape \(5, 1\), expected \(192, 1\)"):
        flax_to_arrays(variables, cfg_of(2, "parallel", "mix"))
    with pytest.raises(LayoutError, match="embedding.embedding.weight"):
        torch_to_flax({k: v for k, v in state.items() if not k.startswith("embedding")})


def test_seed_checkpoint_loads_into_both_frameworks(seed_module, tmp_path):
    torch.manual_seed(0)
    seed_model = seed_module.DCN(field_num=10, feat_dim=72, emb_num=16, order_num=3,
                                 method="stacked").eval()
    path = tmp_path / "seed.pt"
    torch.save(seed_model.state_dict(), path)
    out = tmp_path / "seed.msgpack"
    convert_file(path, out, "jax")
    variables, cfg = load_for_jax(out)
    ids = np.random.default_rng(0).integers(0, 72, (64, 10))
    with torch.no_grad():
        want = seed_model(torch.as_tensor(ids)).numpy()
    got = np.asarray(JaxDCN(**cfg.kwargs()).apply(variables, ids))
    assert np.abs(got - want).max() <= 1e-6


def test_safetensors_layout_round_trip_and_corruption(tmp_path):
    cfg = cfg_of(1, "parallel", "full")
    model = torch_model(cfg, 0)
    path = tmp_path / "m.safetensors"
    save_from_torch(path, model.state_dict(), cfg)
    state, cfg2 = load_for_torch(path)
    assert cfg2 == cfg and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    variables, _ = load_for_jax(path)
    np.testing.assert_array_equal(variables["params"]["cross_net"]["layers_0"]["kernel"],
                                  model.cross_net.cell_list[0].w.detach().numpy().T)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x40
    flipped = tmp_path / "flipped.safetensors"
    flipped.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="sha256"):
        load_for_torch(flipped)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(weights.WeightsError, match="truncated.safetensors: not a readable"):
        load_for_torch(truncated)
    with pytest.raises(ConvertError, match="unknown extension"):
        convert_file(path, tmp_path / "x.bin", "torch")


def test_cli_convert_round_trip(tmp_path):
    cfg = cfg_of(2, "stacked", "mix")
    model = torch_model(cfg, 1)
    src = tmp_path / "a.safetensors"
    save_from_torch(src, model.state_dict(), cfg)
    run = lambda *a: subprocess.run([sys.executable, "-m", "parity", *a], capture_output=True, text=True)
    assert run("convert", str(src), str(tmp_path / "b.msgpack"), "--to", "jax").returncode == 0
    assert run("convert", str(tmp_path / "b.msgpack"), str(tmp_path / "c.pt"), "--to", "torch").returncode == 0
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    bad = run("convert", str(tmp_path / "missing.safetensors"), str(tmp_path / "d.pt"), "--to", "torch")
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_quick_parity_run_passes():
    result = subprocess.run([sys.executable, "-m", "parity", "--quick"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout and " 0 failed" in result.stdout
    from parity.models import NAMES
    model_rows = [l for l in result.stdout.splitlines() if "| models: " in l]
    assert {l.split("|")[2].strip() for l in model_rows} == set(NAMES) >= {
        "fm", "ffm", "pnn", "opnn", "deepfm", "nfm", "dnn", "crossnet", "crossnet-full",
        "dcnv1", "xdeepfm", "autoint", "dlrm"}
    assert len(model_rows) == len(NAMES) * 4   # round trip, forward, gradients, zero gradients
    paper = [l for l in result.stdout.splitlines()
             if l.startswith("| training, --init he_normal --ema 0.99 --clip-norm 1")]
    assert len(paper) == 2 and all("| pass" in l for l in paper)   # val AUC per epoch, final params
