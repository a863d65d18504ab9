"""Every model of the registry besides DCN's grid (the seed table's FM, FFM, PNN, DeepFM,
NFM; the DNN alone; the cross network alone) in both frameworks: the seed table's parameter
counts, float64 training parity (their conversion, forward and gradient rows run in the
quick parity run: tests/test_parity.py), the declared layout, and training, loading and
exporting them through the trainer, the CLI and the Python API."""
import jax
import numpy as np
import pytest

from dcnmix.config import ModelConfig
from dcnmix.data import split, synthetic
from dcnmix_jax.model import count_params, model_for as jax_model_for
from dcnmix_torch.model import model_for as torch_model_for
from parity.models import NAMES, TYPED_TRAINING, check_training, config

# the seed article's table (10 fields, 72 ids); the presets that give them: docs/baselines.md
SEED_COUNTS = {"fm": 361, "ffm": 2_953, "pnn": 29_953, "deepfm": 12_746, "nfm": 10_186}


@pytest.mark.parametrize("name", list(SEED_COUNTS))
def test_seed_presets_have_the_seed_tables_parameter_counts(name):
    cfg = ModelConfig.create(model=name, field_num=10, feat_dim=72)     # the declared preset
    torch_model = torch_model_for(cfg)
    assert sum(p.numel() for p in torch_model.parameters()) == SEED_COUNTS[name]
    module = jax_model_for(cfg)
    variables = module.init(jax.random.key(0), np.zeros((2, 10), np.int32))
    assert count_params(variables["params"]) == SEED_COUNTS[name]
    assert module.apply(variables, np.zeros((0, 10), np.int32)).shape == (0,)


@pytest.fixture(scope="module")
def data():
    train, valid, _ = split(synthetic(n=3000, seed=0), (0.8, 0.1, 0.1), seed=0)
    return train, valid


@pytest.mark.parametrize("name", [n for n in NAMES if "+" not in n or n in TYPED_TRAINING])
def test_float64_training_gives_the_same_auc_per_epoch(name, data):
    rows = check_training(name, *data)
    failed = [(r.check, r.error, r.bound, r.detail) for r in rows if not r.passed]
    assert not failed


@pytest.mark.parametrize("name", NAMES)
def test_layout_names_every_tensor_of_both_frameworks(name):
    """dcnmix.layout (framework-free, used by the weights files, inference and export) maps
    each model's torch state_dict onto exactly the Flax variables of its twin."""
    import torch
    from dcnmix.layout import arrays_to_flax, flax_to_arrays
    from dcnmix_jax.model import model_for as jax_model
    from dcnmix_torch.model import model_for as torch_model
    cfg = config(name)
    torch.manual_seed(0)
    module = torch_model(cfg)
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    variables = arrays_to_flax(state, cfg)
    flat = lambda tree: {jax.tree_util.keystr(p): np.asarray(v) for p, v in
                         jax.tree_util.tree_leaves_with_path(tree)}
    from dcnmix.data import features
    init = jax_model(cfg).init(jax.random.key(0), features.example(cfg))
    assert {k: v.shape for k, v in flat(init).items()} == {k: v.shape for k, v in flat(variables).items()}
    back = flax_to_arrays(variables, cfg)
    assert list(back) == list(state) and all(np.array_equal(back[k], state[k]) for k in state)


# the DNN alone and the cross network alone on the built-in data (10 fields, 72 ids, emb 16):
# tower 160-128-64-32 with BatchNorm + out; 2 DCN-Mix layers (seed) + Linear(160, 1)
# the tower of the defaults (128, 64, 32, BatchNorm) over `width` inputs, without its output layer
HIDDEN = lambda width: width * 128 + 128 + 2 * 128 + 128 * 64 + 64 + 2 * 64 + 64 * 32 + 32 + 2 * 32
TABLE = 72 * 16
COUNTS = {**SEED_COUNTS, "dnn": TABLE + HIDDEN(160) + 33,
          "crossnet": TABLE + 2 * (4 * (2 * 160 * 16 + 160) + 160 * 4 + 4) + 161,
          # 3 vector cross layers (w and b, 160 each), the DNN without output, Linear(160 + 32, 1)
          "dcnv1": TABLE + 3 * 2 * 160 + HIDDEN(160) + 193,
          # first order (72 + bias), CIN 100 -> 16, 160 -> 16 twice (+ biases), fc 48 -> 1, tower
          "xdeepfm": 73 + TABLE + (100 * 16 + 16) + 2 * (160 * 16 + 16) + 49 + HIDDEN(160) + 33,
          # attention 16 -> 32 (q, k, v, residual), 32 -> 32 twice (q, k, v), fc 320 -> 1, tower
          "autoint": TABLE + 4 * 16 * 32 + 2 * 3 * 32 * 32 + 321 + HIDDEN(160) + 33,
          # no dense values: the 45 dot products of 10 fields feed the top tower
          "dlrm": TABLE + HIDDEN(45) + 33}
LAYERED = ("crossnet", "dcnv1", "autoint")     # the models with order_num


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("name", list(COUNTS))
def test_every_model_trains_from_the_cli(name, framework, tmp_path):
    """`dcnmix train --model NAME` in both frameworks: the preset's parameter count on the
    built-in data (10 fields, 72 ids), a run folder whose weights load in the other framework
    with the same probabilities."""
    import json
    import dcnmix
    from dcnmix.cli import main
    out = tmp_path / name
    assert main(["train", "--model", name, "--framework", framework, "--synthetic-rows", "1200",
                 "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"] == COUNTS[name]
    assert summary["config"]["model"] == name
    assert ("order_num" in summary["config"]) == (name in LAYERED)
    ids = np.random.default_rng(0).integers(0, 72, (64, 10)).astype(np.int32)
    other = "torch" if framework == "jax" else "jax"
    got = dcnmix.load_run(out, framework=other).predict(ids)
    want = dcnmix.load_run(out, framework=framework).predict(ids)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_baseline_options_are_checked_per_model(tmp_path, capsys):
    """A DCN option given to a baseline (or a baseline's option to the wrong model) is one
    line naming the flag, before any data is read."""
    from dcnmix.cli import main
    out = ["--out", str(tmp_path / "x"), "--dataset", "criteo:/no/such/file"]
    cases = {("--model", "fm", "--order-num", "3"): "--order-num: order_num is an option of model dcn",
             ("--model", "nfm", "--gate", "sigmoid"): "--gate: a DCN-Mix option",
             ("--model", "deepfm", "--product", "outer"): "--product: product is an option of model pnn",
             ("--batch-norm", "off"): "--batch-norm: batch_norm is an option of model pnn or deepfm or nfm",
             ("--model", "svm"): "invalid choice"}
    for argv, expected in cases.items():
        try:
            code = main(["train", *argv, *out])
        except SystemExit as exc:     # argparse's own errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and expected in err, (argv, err)


def test_opnn_trains_and_exports(tmp_path):
    """--product outer (OPNN) trains in the Python API; its StableHLO and ONNX exports give
    the JAX model's probabilities."""
    import onnxruntime
    import dcnmix
    from dcnmix.export import export_run
    from dcnmix.config import TrainConfig
    from dcnmix.data import DataSpec
    summary, folder = dcnmix.train({"model": "pnn", "product": "outer"},
                                   DataSpec(spec="synthetic", synthetic_rows=1200),
                                   out=str(tmp_path / "opnn"), train_config=TrainConfig(epochs=1),
                                   progress=False, log=lambda *_: None)
    assert summary["params"] == 29_953 + 32 * 45 * 32      # the seed preset + the outer kernel
    ids = np.random.default_rng(0).integers(0, 72, (33, 10)).astype(np.int32)
    want = dcnmix.load_run(folder).predict(ids)
    export_run(folder, "onnx", str(tmp_path / "m.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    np.testing.assert_allclose(session.run(None, {"ids": ids.astype(np.int32)})[0], want, atol=1e-6)
    from jax import export
    export_run(folder, "stablehlo", str(tmp_path / "m.stablehlo"))
    exported = export.deserialize((tmp_path / "m.stablehlo").read_bytes())
    np.testing.assert_allclose(np.asarray(exported.call(ids)), want, atol=1e-6)
    from dcnmix.cli import main
    assert main(["convert", f"{folder}/best.safetensors", str(tmp_path / "m.pt"), "--to", "torch"]) == 0
    assert main(["convert", str(tmp_path / "m.pt"), str(tmp_path / "m.msgpack"), "--to", "jax"]) == 2
