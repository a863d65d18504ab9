"""The `dcnmix` command and the Python training API: flags made from the configs, one-line
errors naming the flag, the run folder describing its data, lazy Adam with lr decay."""
import json
import subprocess
import sys

import numpy as np
import pytest

import dcnmix
from dcnmix.cli import build_parser, main
from dcnmix.config import ModelConfig, TrainConfig, Variant

TINY = ["--synthetic-rows", "1500", "--batch-size", "128", "--no-progress", "--hidden-nums", "16",
        "--emb-num", "4", "--r", "4", "--order-num", "1"]


def test_help_shows_defaults_and_every_config_field():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    import dataclasses
    from dcnmix.config import Inputs
    from dcnmix.data.options import DataOptions
    for cls, skip in ((ModelConfig, ("field_num", "feat_dim", "variant", "inputs")), (Variant, ()),
                      (TrainConfig, ()), (Inputs, ("dense_num", "multi_num")), (DataOptions, ())):
        for f in dataclasses.fields(cls):
            if f.name not in skip:
                assert "--" + f.name.replace("_", "-") in text, f.name
    assert "(default: 1024)" in text and "(default: gemm)" in text


def test_abbreviations_are_refused_and_errors_name_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--epoch", "1", "--out", str(tmp_path / "a")])
    assert "--epoch" in capsys.readouterr().err
    for flag, value in (("--lr", "0"), ("--patience", "-1"), ("--lr-decay", "nan"),
                        ("--dropout", "1.5"), ("--weight-decay", "-1")):
        assert main(["train", *TINY, flag, value, "--out", str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag}:") and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()       # refused before any data or folder


def test_twin_refuses_jax_only_options(tmp_path, capsys):
    assert main(["train", *TINY, "--framework", "torch", "--dtype", "bfloat16",
                 "--out", str(tmp_path / "t")]) == 2
    assert ("error: --dtype: --dtype bfloat16 is not supported by the torch backend (it trains "
            "with --dtype float32 or --dtype float64)") in capsys.readouterr().err


def test_bfloat16_and_experts_mixture_train_from_the_cli(tmp_path):
    out = tmp_path / "bf16"
    assert main(["train", *TINY, "--epochs", "1", "--dtype", "bfloat16", "--mixture", "experts",
                 "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["train"]["dtype"] == "bfloat16" and s["train"]["mixture"] == "experts"
    assert 0.0 < s["test_auc"] < 1.0
    vmap = tmp_path / "vmap"      # the vmap form's weights have the layout of the others
    assert main(["train", *TINY, "--epochs", "1", "--mixture", "vmap", "--out", str(vmap)]) == 0
    import dcnmix
    ids = np.random.default_rng(0).integers(0, 72, (64, 10)).astype(np.int32)
    run = dcnmix.load_run(vmap)                     # predicts with the gemm form
    from dcnmix_jax.model import model_for
    want = np.asarray(model_for(run.config, mixture="vmap").apply(run.variables, ids))
    np.testing.assert_allclose(run.predict(ids), want, atol=1e-6)


def test_resume_checks_the_data_content_not_only_its_name(tmp_path, capsys):
    rng = np.random.default_rng(0)

    def write(labels):
        rows = [f"{y} {a}:1 {5 + b}:1" for y, a, b in zip(labels, rng.integers(0, 5, 400),
                                                         rng.integers(0, 5, 400))]
        (tmp_path / "d.libfm").write_text("\n".join(rows) + "\n")

    write(rng.integers(0, 2, 400))
    args = ["train", "--dataset", f"libfm:{tmp_path / 'd.libfm'}", "--batch-size", "64",
            "--hidden-nums", "8", "--emb-num", "4", "--r", "4", "--order-num", "1",
            "--no-progress", "--out", str(tmp_path / "r")]
    assert main([*args, "--epochs", "1"]) == 0
    write(rng.integers(0, 2, 400))                  # same file, same shape, other rows
    assert main([*args, "--epochs", "2", "--resume"]) == 2
    assert "the data differs from the data the run was trained on" in capsys.readouterr().err


def test_run_folder_records_its_data_and_resume_checks_it(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", *TINY, "--epochs", "1", "--out", out]) == 0
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["data"]["spec"] == "synthetic" and s["data"]["synthetic_rows"] == 1500
    run = json.loads((tmp_path / "r" / "checkpoint" / "run.json").read_text())
    assert run["identity"]["data"] == s["data"]
    # other data of the same shape is not this run's
    assert main(["train", *TINY[2:], "--synthetic-rows", "1600", "--epochs", "2", "--resume",
                 "--out", out]) == 2
    assert "data.synthetic_rows: 1500 then, 1600 now" in capsys.readouterr().err
    # svd finds the run's data by itself
    assert main(["svd", out]) == 0
    curves = (tmp_path / "r" / "svd.csv").read_text()
    assert "gated mixture" in curves            # the mean gates came from the recorded data
    assert main(["svd", out, "--layer", "3"]) == 2
    assert "--layer 3" in capsys.readouterr().err


def test_lazy_adam_follows_lr_decay(tmp_path):
    """Reduce-on-plateau with lazy Adam: the lr written per epoch drops, training goes on."""
    out = tmp_path / "lazy"
    assert main(["train", *TINY, "--epochs", "12", "--patience", "12", "--lr", "0.05",
                 "--embedding-optimizer", "lazy", "--lr-decay", "0.5", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows]
    assert len(rows) == 12 and lrs[0] == 0.05 and min(lrs) < 0.05, lrs
    best = 0.0
    for row, next_lr in zip(rows, lrs[1:]):    # halved exactly after an epoch without gain
        assert next_lr == (row["lr"] if row["val_auc"] > best else row["lr"] * 0.5), lrs
        best = max(best, row["val_auc"])
    from dcnmix_jax.trainer import JaxTrainer
    backend = JaxTrainer(ModelConfig(field_num=10, feat_dim=72, emb_num=4, order_num=1, r=4,
                                     hidden_nums=(16,)), TrainConfig(embedding_optimizer="lazy"))
    backend.set_learning_rate(0.25)
    assert float(backend.state.lr) == 0.25


@pytest.mark.parametrize("form", ["arrays", "dataset", "splits"])
def test_python_train_api_accepts_arrays_and_datasets(tmp_path, form):
    from dcnmix.data import split, synthetic
    data = synthetic(n=1200, seed=1)
    given = {"arrays": (data.ids, data.labels), "dataset": data, "splits": split(data)}[form]
    summary, folder = dcnmix.train({"emb_num": 4, "order_num": 1, "hidden_nums": (8,), "r": 4},
                                   given, out=str(tmp_path / form), progress=False,
                                   train_config=TrainConfig(epochs=1, batch_size=128),
                                   log=lambda *_: None)
    assert folder == str(tmp_path / form) and summary["epochs_run"] == 1
    assert summary["rows"]["train"] == 960 and summary["config"]["field_num"] == 10
    with pytest.raises(TypeError, match="data must be"):
        dcnmix.train({}, 42, out=str(tmp_path / "x"))


def test_config_round_trips_and_reads_the_flat_form_of_older_files():
    cfg = ModelConfig.preset("paper", field_num=3, feat_dim=9, emb_num=4, order_num=2)
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    flat = {k: v for k, v in cfg.to_dict().items() if k != "variant"} | cfg.variant.kwargs()
    assert ModelConfig.from_dict(flat) == cfg
    assert cfg.preset_name() == "paper" and ModelConfig.create(
        field_num=3, feat_dim=9, emb_num=4, order_num=2, activation="relu").variant.activation == "relu"


def test_old_entry_points_still_work():
    """`python -m dcnmix_jax.train` and `python -m dcnmix_torch.train` train end to end in
    tests/test_imports.py (under the import blocks); the parity CLI answers here."""
    proc = subprocess.run([sys.executable, "-m", "dcnmix", "parity", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "convert" in proc.stdout
    from dcnmix_jax.train import main as jax_alias
    from dcnmix.cli import train_main
    assert jax_alias is train_main
