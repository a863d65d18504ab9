"""Typed data (issue 24): dense values, bucketing rules, multi-valued fields, string labels and
DataFrames, from raw file to served model, in both frameworks."""
import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from conftest import ROOT

import dcnmix
from dcnmix.data import DataError
from dcnmix.data.featuremap import FeatureMap
from dcnmix.data.prepare import PrepareOptions, prepare
from dcnmix.data.prepared import open_prepared

sys.path.insert(0, str(ROOT / "benchmarks"))
from mixed_data import OPTIONS, mixed_frame  # noqa: E402

ROWS, EPOCHS = 24_000, 4
SMALL = {"order_num": 2, "emb_num": 8, "hidden_nums": (64, 32)}
TC = dict(epochs=EPOCHS, batch_size=512, lr=3e-3)


def _prepare(tmp_path, frame, name="data.csv", **options):
    path = tmp_path / name
    (frame.write_parquet if name.endswith(".parquet") else frame.write_csv)(path)
    kind = "parquet" if name.endswith(".parquet") else "csv"
    return prepare(PrepareOptions(kind=kind, paths=(str(path),), **options), str(tmp_path / "p"))


# ---------------------------------------------------------------------- field kinds
def test_dense_fields_are_transformed_with_train_statistics_and_a_missing_indicator(tmp_path):
    frame = pl.DataFrame({"x": [1.0, 3.0, None, 7.0, -2.0] * 20, "c": ["a", "b"] * 50,
                          "label": [0, 1] * 50})
    for transform in ("log1p", "standardize", "none"):
        fmap = _prepare(tmp_path, frame, categorical=("c",), dense=("x",), dense_transform=transform,
                        fractions=(1.0, 0.0, 0.0))
        train = open_prepared(tmp_path / "p")[0]
        assert train.dense_names == ("x", "x#missing")
        raw = frame["x"].to_numpy()
        missing = np.isnan(raw.astype(float))
        assert (train.dense[:, 1] == missing).all()
        v = np.nan_to_num(raw.astype(float))
        want = {"log1p": np.sign(v) * np.log1p(np.abs(v)), "standardize": v, "none": v}[transform]
        mean = want[~missing].mean()
        want = np.where(missing, mean, want)
        if transform == "standardize":
            want = (want - mean) / want[~missing].std()
        np.testing.assert_allclose(train.dense[:, 0], want, rtol=1e-6, atol=1e-6)
        assert fmap.fields[1].stats[0] == pytest.approx(mean)


def test_numeric_rules_quantile_bounds_and_the_few_buckets_warning(tmp_path):
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"rate": rng.random(4000), "price": np.exp(rng.normal(3, 1, 4000)),
                          "label": rng.integers(0, 2, 4000)})
    fmap = _prepare(tmp_path, frame, numeric=("rate", "price"), buckets=(("price", "quantile:8"),),
                    fractions=(1.0, 0.0, 0.0))
    rate, price = fmap.fields
    assert rate.rule == "" and rate.cardinality <= 4      # the log rule: rate < 1 -> 'V0' only
    assert any("field rate" in w and "--dense rate" in w for w in fmap.info["warnings"])
    assert price.rule == "quantile" and len(price.boundaries) == 7
    train = open_prepared(tmp_path / "p")[0]
    counts = np.bincount(train.ids[:, 1] - fmap.offsets[1])[2:]
    assert len(counts) == 8 and counts.min() > 0.8 * 500 and counts.max() < 1.2 * 500
    fmap = _prepare(tmp_path, frame, numeric=("rate",), numeric_rule="0.25,0.5,0.75",
                    fractions=(1.0, 0.0, 0.0))
    local = open_prepared(tmp_path / "p")[0].ids[:, 0]
    np.testing.assert_array_equal(local, 2 + np.searchsorted([0.25, 0.5, 0.75], frame["rate"], "right"))
    with pytest.raises(ValueError, match="increasing"):
        PrepareOptions(kind="csv", paths=("x.csv",), numeric=("rate",), buckets=(("rate", "3,1"),))


def test_multivalued_fields_from_text_and_list_columns(tmp_path):
    tags = ["a|b", "", "b|c|a|d", None, "a"] * 40
    frame = pl.DataFrame({"tags": tags, "label": [0, 1, 0, 1, 1] * 40})
    fmap = _prepare(tmp_path, frame, multivalued=("tags",), max_len=3, fractions=(1.0, 0.0, 0.0))
    train = open_prepared(tmp_path / "p")[0]
    field = fmap.fields[0]
    assert field.max_len == 3 and train.multi.shape == (200, 1, 3)
    local = lambda t: 2 + field.tokens.index(t)
    off = fmap.offsets[0]
    np.testing.assert_array_equal(train.multi[0, 0], [off + local("a"), off + local("b"), -1])
    np.testing.assert_array_equal(train.multi[1, 0], [off + 0, -1, -1])          # missing
    np.testing.assert_array_equal(train.multi[2, 0], off + np.array([local(t) for t in "bca"]))
    assert fmap.info["oov"]["train"]["tags"]["truncated"] == pytest.approx(0.2)
    listed = frame.with_columns(pl.col("tags").str.split("|"))
    _prepare(tmp_path, listed, "data.parquet", multivalued=("tags",), max_len=3,
             fractions=(1.0, 0.0, 0.0))
    again = open_prepared(tmp_path / "p")[0]
    rows = np.array([t is not None for t in tags])        # a null list and "" are both missing
    np.testing.assert_array_equal(again.multi[rows], train.multi[rows])


@pytest.mark.parametrize("values, positive, want", [
    (["click", "noclick", "click"], "click", [1, 0, 1]),
    ([True, False, True], None, [1, 0, 1]),
    (["True", "false", "TRUE"], None, [1, 0, 1]),
    ([1.0, 0.0, -1.0], None, [1, 0, 0]),
    ([1, -1, 1], None, [1, 0, 1])])
def test_labels_in_every_documented_form(tmp_path, values, positive, want):
    frame = pl.DataFrame({"label": values * 30, "c": ["a", "b", "c"] * 30})
    fmap = _prepare(tmp_path, frame, "data.parquet", categorical=("c",), positive=positive,
                    fractions=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(open_prepared(tmp_path / "p")[0].labels, want * 30)
    if positive:
        assert fmap.info["labels"]["train_values"] == {"click": 60, "noclick": 30}


@pytest.mark.parametrize("content, options, where", [
    ("x,label\n1.5,0\nabc,1\n", {"dense": ("x",)}, "3: column x: 'abc' is not a number"),
    ("x,label\n1,click\n2,noclick\n", {"dense": ("x",)},
     "2: label 'click' is not 0/1, -1/1 or true/false: name the positive value with --positive "
     "VALUE"),
    ("t,label\na|b,0\na|b|c|d,1\n", {"multivalued": ("t",), "max_len": 2, "truncate": False},
     "3: field t: 4 elements, over --max-len 2 (--truncate is off)")])
def test_bad_typed_input_is_one_line_naming_file_line_and_column(tmp_path, content, options, where):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        prepare(PrepareOptions(kind="csv", paths=(str(path),), fractions=(1.0, 0.0, 0.0), **options),
                str(tmp_path / "p"))
    assert str(info.value) == f"{path}:{where}"


def test_a_list_column_of_the_wrong_element_type_is_refused(tmp_path):
    path = tmp_path / "bad.parquet"
    pl.DataFrame({"t": [[1.5, 2.0], [3.0]], "label": [0, 1]}).write_parquet(path)
    with pytest.raises(DataError, match=r"bad.parquet:2: column t: a list column of "
                                        r"Float64 elements"):
        prepare(PrepareOptions(kind="parquet", paths=(str(path),), multivalued=("t",)),
                str(tmp_path / "p"))


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """The generated mixed-type log as CSV, and its time-ordered split's test rows."""
    folder = tmp_path_factory.mktemp("mixed")
    frame = mixed_frame(ROWS, seed=1)
    frame.write_csv(folder / "mixed.csv")
    test = frame.sort("ts", maintain_order=True)[int(round(0.9 * ROWS)):]
    return folder, frame, test


def _logistic_regression_auc(frame, test):
    """scikit-learn's LR on the same columns and split: one-hot ids and tags, the dense
    values log1p'd and standardised, missing filled."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer, OneHotEncoder, StandardScaler
    ordered = frame.sort("ts", maintain_order=True)
    train = ordered[: int(round(0.8 * ROWS))]

    def features(part, fit=False):
        cats = part.select("user", "device", "site").to_numpy()
        dense = np.log1p(part.select(pl.col("rate"), pl.col("price").fill_null(
            train["price"].mean())).to_numpy())
        tags = [t.split("|") if t else [] for t in part["tags"].fill_null("").to_list()]
        if fit:
            features.enc = OneHotEncoder(handle_unknown="ignore").fit(cats)
            features.scale = StandardScaler().fit(dense)
            features.tags = MultiLabelBinarizer().fit(tags)
        from scipy.sparse import hstack
        return hstack([features.enc.transform(cats), features.scale.transform(dense),
                       features.tags.transform(tags)]).tocsr()
    model = LogisticRegression(max_iter=2000, C=1.0).fit(features(train, fit=True),
                                                         train["label"] == "click")
    return roc_auc_score(test["label"] == "click", model.predict_proba(features(test))[:, 1])


@pytest.fixture(scope="module")
def lr_auc(mixed):
    _, frame, test = mixed
    return _logistic_regression_auc(frame, test)


def test_mixed_types_beat_logistic_regression_and_the_log_rule(mixed, lr_auc, tmp_path):
    folder, frame, test = mixed
    tc = dcnmix.TrainConfig(**TC)
    quiet = dict(progress=False, log=lambda *_: None, train_config=tc)
    summary, run_dir = dcnmix.train(SMALL, frame, out=str(tmp_path / "df"), **quiet, **OPTIONS)
    logged = {**OPTIONS, "numeric": OPTIONS["dense"], "dense": ()}
    bucketed, _ = dcnmix.train(SMALL, frame, out=str(tmp_path / "log"), **quiet, **logged)
    lr = lr_auc
    assert summary["config"]["inputs"]["dense_num"] == 3        # rate, price, price#missing
    assert summary["test_auc"] > lr, (summary["test_auc"], lr)
    assert summary["test_auc"] > bucketed["test_auc"] + 0.01, (summary["test_auc"], bucketed["test_auc"])
    # the raw test rows, encoded by the run's feature map, give the same AUC
    from sklearn.metrics import roc_auc_score
    probs = dcnmix.load_run(run_dir).predict(test)
    assert roc_auc_score(test["label"] == "click", probs) == pytest.approx(summary["test_auc"], abs=1e-9)


def test_the_cli_prepares_and_trains_the_mixed_log(mixed, lr_auc, tmp_path):
    folder, _, _ = mixed
    prepared = tmp_path / "prepared"
    common = [sys.executable, "-m", "dcnmix"]
    run = lambda *args: subprocess.run(common + list(args), capture_output=True, text=True)
    out = run("prepare", f"csv:{folder / 'mixed.csv'}", "--out", str(prepared), "--label", "label",
              "--positive", "click", "--categorical", "user,device,site", "--dense", "rate,price",
              "--multivalued", "tags", "--order-by", "ts")
    assert out.returncode == 0, out.stderr
    assert "labels: 'click' positive" in out.stdout and "typed: 3 dense columns" in out.stdout
    out = run("train", "--dataset", f"prepared:{prepared}", "--out", str(tmp_path / "run"),
              "--order-num", "2", "--emb-num", "8", "--hidden-nums", "64,32", "--epochs",
              str(EPOCHS), "--batch-size", "512", "--lr", "3e-3", "--no-progress",
              "--pooling", "sum")
    assert out.returncode == 0, out.stderr
    import json
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["inputs"] == {"dense_num": 3, "multi_num": 1, "pooling": "sum",
                                           "dense_embedding": False}
    assert summary["test_auc"] > lr_auc, (summary["test_auc"], lr_auc)
    fmap = FeatureMap.load(tmp_path / "run" / "feature_map.json")
    assert [f.kind for f in fmap.fields] == ["categorical"] * 3 + ["dense"] * 2 + ["multivalued"]


# ---------------------------------------------------------------------- serving
@pytest.fixture(scope="module")
def typed_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("typed_run")
    frame = mixed_frame(5000, seed=2)
    _, run_dir = dcnmix.train({"order_num": 1, "emb_num": 4, "hidden_nums": (16,)}, frame,
                              out=str(folder / "run"), progress=False, log=lambda *_: None,
                              train_config=dcnmix.TrainConfig(epochs=1), **OPTIONS)
    return run_dir, frame


def test_predict_onnx_and_stablehlo_agree_on_typed_inputs(typed_run, tmp_path):
    import onnxruntime
    from jax import export
    from dcnmix.export import export_run
    run_dir, frame = typed_run
    hlo = export_run(run_dir, "stablehlo", str(tmp_path / "m.stablehlo"))
    onnx = export_run(run_dir, "onnx", str(tmp_path / "m.onnx"))
    assert hlo["input"] == onnx["input"] == ("ids int32 [batch, 3], dense float32 [batch, 3], "
                                             "multi int32 [batch, 1, length]")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("ids", "tensor(int32)"), ("dense", "tensor(float)"), ("multi", "tensor(int32)")]
    reloaded = export.deserialize((tmp_path / "m.stablehlo").read_bytes())
    jax_run, torch_run = dcnmix.load_run(run_dir), dcnmix.load_run(run_dir, framework="torch")
    rows = pl.concat([frame] * 2)
    for n in (1, 7, 4096):
        inputs = jax_run.encode(rows[:n])
        want = jax_run.predict(inputs)
        got = {"onnx": session.run(None, inputs)[0],
               "stablehlo": np.asarray(reloaded.call(*inputs.values())),
               "torch": torch_run.predict(rows[:n])}
        for name, probs in got.items():
            assert np.abs(probs - want).max() <= 1e-6, (name, n)


def test_predict_reports_out_of_vocabulary_shares(typed_run, tmp_path):
    run_dir, frame = typed_run
    rows = frame.head(200).with_columns(pl.lit("a new user").alias("user"),
                                        pl.lit("t1|nope|nada").alias("tags"))
    rows.write_csv(tmp_path / "new.csv")
    out = subprocess.run([sys.executable, "-m", "dcnmix", "predict", run_dir, "--data",
                          f"csv:{tmp_path / 'new.csv'}", "--out", str(tmp_path / "s.csv")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning: field user: 100.0% out of vocabulary (--warn-oov 0.05)" in out.stderr
    assert "warning: field tags: 66.7% out of vocabulary" in out.stderr
    assert "AUC" in out.stdout
