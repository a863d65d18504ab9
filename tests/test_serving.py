"""Use a trained model: `dcnmix predict`, `load_run(...).predict`, and the StableHLO and ONNX
exports all give the JAX model's eval probabilities; raw rows are encoded with the run's
feature map; broken run folders are named in one-line errors."""
import json
import os

import numpy as np
import polars as pl
import pytest

from dcnmix.cli import main
from dcnmix.inference import load_run

BATCHES = (1, 7, 4096)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 2000), rng.integers(0, 30, 2000)
    y = ((users % 3 == 0) ^ (items % 4 == 0)).astype(int)
    prices = [None if r < 0.1 else round(float(p), 2) for r, p in zip(rng.random(2000), rng.random(2000) * 100)]
    pl.DataFrame({"y": y, "user": [f"u{u}" for u in users], "item": [f"i{i}" for i in items],
                  "price": prices}).write_csv(folder / "d.csv")
    assert main(["train", "--dataset", f"csv:{folder / 'd.csv'}", "--label", "y",
                 "--categorical", "user,item", "--numeric", "price", "--epochs", "2",
                 "--batch-size", "128", "--hidden-nums", "16", "--emb-num", "4", "--order-num", "2",
                 "--no-progress", "--out", str(folder / "run")]) == 0
    return folder


def _jax_eval(folder, ids):
    """The reference: the Flax model's eval probabilities with the run's best weights."""
    from dcnmix.layout import arrays_to_flax
    from dcnmix.weights import load
    from dcnmix_jax.model import DCN
    arrays, cfg, _ = load(folder / "run" / "best.safetensors")
    return np.asarray(DCN(**cfg.kwargs()).apply(arrays_to_flax(arrays, cfg), ids), np.float64)


def _ids(folder, n):
    raw = pl.read_csv(folder / "d.csv")
    ids = load_run(folder / "run").encode(raw)
    return np.tile(ids, (n // len(ids) + 1, 1))[:n]


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_load_run_predicts_the_jax_eval_probabilities(run, framework):
    loaded = load_run(run / "run", framework=framework)
    ids = _ids(run, 4096)
    want = _jax_eval(run, ids)
    for batch in BATCHES:
        got = loaded.predict(ids[:batch], batch_size=batch)
        assert got.shape == (batch,) and np.abs(got - want[:batch]).max() < 1e-6
    raw = pl.read_csv(run / "d.csv")
    assert np.abs(loaded.predict(raw) - _jax_eval(run, loaded.encode(raw))).max() < 1e-6
    assert np.abs(loaded.predict(raw.to_pandas()) - loaded.predict(raw.to_dict(as_series=False))).max() == 0
    assert loaded.predict(ids[:0]).shape == (0,)
    if framework == "jax":
        assert loaded.model.field_num == 3 and "params" in loaded.variables
    else:
        assert not loaded.module.training


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_predict_command_scores_every_row_in_order(run, framework, tmp_path):
    out = tmp_path / "p.parquet"
    assert main(["predict", str(run / "run"), "--data", f"csv:{run / 'd.csv'}", "--out", str(out),
                 "--framework", framework, "--keep", "user", "--batch-size", "300"]) == 0
    scored = pl.read_parquet(out)
    raw = pl.read_csv(run / "d.csv")
    assert scored["user"].to_list() == raw["user"].to_list()
    want = _jax_eval(run, load_run(run / "run").encode(raw))
    assert np.abs(scored["probability"].to_numpy() - want).max() < 1e-6
    metrics = json.loads((tmp_path / "p.parquet.metrics.json").read_text())
    from sklearn.metrics import roc_auc_score
    assert metrics["rows"] == 2000
    assert metrics["auc"] == pytest.approx(roc_auc_score(raw["y"].to_numpy(), want), abs=1e-6)
    no_label = tmp_path / "nolabel.csv"
    raw.drop("y").head(5).write_csv(no_label)
    assert main(["predict", str(run / "run"), "--data", f"csv:{no_label}", "--out",
                 str(tmp_path / "q.csv")]) == 0
    assert len(pl.read_csv(tmp_path / "q.csv")) == 5


def test_exports_reload_and_agree(run, tmp_path):
    import onnxruntime
    from jax import export
    assert main(["export", str(run / "run"), "--format", "stablehlo", "--out",
                 str(tmp_path / "m.stablehlo")]) == 0
    assert main(["export", str(run / "run"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "feature_map.json").exists()
    ids = _ids(run, 4096)
    want = _jax_eval(run, ids)
    hlo = export.deserialize((tmp_path / "m.stablehlo").read_bytes())
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    for batch in BATCHES:
        assert np.abs(np.asarray(hlo.call(ids[:batch])) - want[:batch]).max() < 1e-6
        got = session.run(None, {"ids": ids[:batch].astype(np.int32)})[0]
        assert got.shape == (batch,) and np.abs(got - want[:batch]).max() < 1e-6


def test_unseen_and_missing_values_get_the_documented_ids(run):
    loaded = load_run(run / "run")
    fmap = loaded.feature_map
    local = loaded.encode({"user": ["u3", "never-seen", None], "item": ["i1", "i1", ""],
                           "price": [5.0, None, 1e9]}) - fmap.offsets
    user = fmap.field_names.index("user")
    price = fmap.field_names.index("price")
    item = fmap.field_names.index("item")
    assert local[0, user] >= 2 and local[1, user] == 1 and local[2, user] == 0   # kept, OOV, missing
    assert local[2, item] == 0 and local[1, price] == 0 and local[2, price] == 1  # "", None; unseen bucket


def test_broken_run_folders_are_named(run, tmp_path, capsys):
    import shutil
    broken = tmp_path / "run"
    shutil.copytree(run / "run", broken)
    (broken / "feature_map.json").write_text("{not json")
    assert main(["predict", str(broken), "--data", f"csv:{run / 'd.csv'}"]) == 2
    assert "feature_map.json" in capsys.readouterr().err
    (broken / "summary.json").write_text("[]")
    assert main(["export", str(broken), "--format", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "summary.json" in capsys.readouterr().err
    shutil.copyfile(run / "run" / "summary.json", broken / "summary.json")
    data = bytearray((broken / "best.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (broken / "best.safetensors").write_bytes(bytes(data))
    assert main(["predict", str(broken), "--data", f"csv:{run / 'd.csv'}"]) == 2
    err = capsys.readouterr().err
    assert "best.safetensors" in err and err.count("\n") == 1
    os.unlink(broken / "best.safetensors")
    assert main(["predict", str(broken), "--data", f"csv:{run / 'd.csv'}"]) == 2
    assert "best.safetensors: no such file" in capsys.readouterr().err


def test_predict_reads_hashed_fields_of_a_csv(run, tmp_path):
    """A run prepared with --hash-buckets scores a raw CSV: the hashed column is read and
    encoded like in prepare (it used to be left out of the columns predict reads)."""
    prepared, out = tmp_path / "prep", tmp_path / "hrun"
    assert main(["prepare", f"csv:{run / 'd.csv'}", "--label", "y", "--categorical", "user,item",
                 "--hash-buckets", "user=64", "--out", str(prepared)]) == 0
    assert main(["train", "--dataset", f"prepared:{prepared}", "--epochs", "1", "--batch-size", "256",
                 "--hidden-nums", "8", "--emb-num", "4", "--order-num", "1", "--no-progress",
                 "--out", str(out)]) == 0
    assert main(["predict", str(out), "--data", f"csv:{run / 'd.csv'}", "--out", str(tmp_path / "p.csv")]) == 0
    got = pl.read_csv(tmp_path / "p.csv")["probability"].to_numpy()
    loaded = load_run(out)
    assert loaded.feature_map.fields[0].kind == "hashed"
    np.testing.assert_allclose(got, loaded.predict(pl.read_csv(run / "d.csv")), atol=1e-7)
