"""`dcnmix prepare --engine spark`: the same feature map and the same rows per split as the
polars engine (three files, a split column, time order, the seeded hash split, typed
fields), errors that name the line, sharded output that `--check` verifies. Needs Java
(pyspark's local mode): missing Java fails in CI, skips elsewhere."""
import os
import subprocess

import numpy as np
import polars as pl
import pytest

from conftest import missing
from dcnmix.data import DataError
from dcnmix.data.prepare import PrepareOptions, prepare
from dcnmix.data.prepared import check_prepared
from dcnmix.data.shards import load_manifest, read_prepared


def _java_ok() -> bool:
    try:
        return subprocess.run(["java", "-version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def spark():
    if not _java_ok():
        missing("`java -version` fails: the Spark engine needs Java 17+ (apt install "
                "openjdk-17-jre-headless)")
    import importlib.util
    if importlib.util.find_spec("pyspark") is None:
        missing("pyspark is not installed (pip install 'dcnmix[spark]')")
    from dcnmix.data.prepare.spark import session
    session_ = session("local[2]")
    yield session_
    session_.stop()


def _criteo(path, rows=6000, seed=0, bad_line=None):
    """A small Criteo-format file: label, 13 counts, 26 hashed tokens, empty = missing."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(rows):
        ints = [("" if rng.random() < 0.2 else str(int(rng.geometric(0.05)) - 2)) for _ in range(13)]
        cats = [("" if rng.random() < 0.1 else f"{int(rng.zipf(1.5)) % (20 + 40 * j):08x}")
                for j in range(26)]
        lines.append("\t".join([str(int(rng.random() < 0.3)), *ints, *cats]))
    if bad_line is not None:
        lines[bad_line - 1] = "\t".join(lines[bad_line - 1].split("\t")[:20])
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _csv(path, rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({
        "click": rng.choice(["yes", "no"], rows),
        "user": [f"u{int(x)}" for x in rng.zipf(1.4, rows) % 300],
        "item": [None if rng.random() < 0.05 else f"i{int(x)}" for x in rng.zipf(1.6, rows) % 80],
        "price": np.round(rng.exponential(30, rows), 2),
        "ts": rng.integers(0, 500, rows),                 # ties: broken by row order
        "day": [f"2026-11-{1 + int(d):02d}" for d in rng.integers(0, 28, rows)],
        "split": rng.choice(["train", "train", "train", "valid", "test"], rows),
        "tags": ["|".join(f"t{int(t)}" for t in rng.integers(0, 30, int(k))) for k in
                 rng.integers(0, 5, rows)],
        "ctr": [None if rng.random() < 0.1 else float(v) for v in rng.random(rows)],
    })
    frame.write_csv(path)
    return str(path)


def _same(a_dir, b_dir, dense_tol=0.0):
    a, b = check_prepared(a_dir), check_prepared(b_dir)
    assert [f.name for f in a.fields] == [f.name for f in b.fields]
    for fa, fb in zip(a.fields, b.fields):
        if fa.kind == "dense":
            assert np.allclose(fa.stats, fb.stats, rtol=1e-12) and fa.counts == fb.counts
        else:
            assert fa == fb, fa.name
    assert a.info["rows"] == b.info["rows"]
    assert a.info["sources"] == b.info["sources"]
    assert a.info.get("labels") == b.info.get("labels")
    for split in ("train", "valid", "test"):
        x, y = read_prepared(a_dir, split), read_prepared(b_dir, split)
        assert sorted(x) == sorted(y)
        for name in x:
            if name == "dense":
                np.testing.assert_allclose(x[name], y[name], rtol=1e-6)
            else:
                assert np.array_equal(x[name], y[name]), (split, name)
    return a, b


def _both(tmp_path, spark, opt, **kw):
    prepare(opt, str(tmp_path / "polars"))
    prepare(opt, str(tmp_path / "spark"), engine="spark", spark=spark, **kw)
    return _same(tmp_path / "polars", tmp_path / "spark")


def test_criteo_hash_split_is_the_polars_engines(tmp_path, spark):
    path = _criteo(tmp_path / "day.txt")
    a, b = _both(tmp_path, spark, PrepareOptions(kind="criteo", paths=(path,), min_count=2), shards=3)
    assert a.info["oov"] == b.info["oov"]
    manifest = load_manifest(tmp_path / "spark")
    assert manifest["engine"] == "spark" and len(manifest["splits"]["train"]) >= 2
    assert b.info["engine"] == "spark"


def test_three_files_and_a_split_column(tmp_path, spark):
    import gzip
    paths = [_csv(tmp_path / f"{s}.csv", rows=1500, seed=i) for i, s in enumerate(("tr", "va", "te"))]
    with open(paths[2], "rb") as fh, gzip.open(paths[2] + ".gz", "wb") as gz:
        gz.write(fh.read())                                   # a gzip file: one block
    paths = (*paths[:2], paths[2] + ".gz")
    _both(tmp_path / "files", spark, PrepareOptions(kind="csv", paths=paths, label="click",
          positive="yes", categorical=("user", "item"), numeric=("price",), min_count=2))
    _both(tmp_path / "column", spark, PrepareOptions(
        kind="csv", paths=paths[:1], label="click", positive="yes", split_column="split",
        categorical=("user", "item"), numeric=("price",)))


@pytest.mark.parametrize("order_by", ["ts", "day"])
def test_time_split_is_the_polars_engines(tmp_path, spark, order_by):
    path = _csv(tmp_path / "log.csv")
    _both(tmp_path, spark, PrepareOptions(kind="csv", paths=(path,), label="click", positive="yes",
                                          order_by=order_by, categorical=("user", "item")),
          shards=4)


def test_typed_fields(tmp_path, spark):
    """dense (moments merged: equal to rounding), multi-valued, quantile and hashed fields."""
    path = _csv(tmp_path / "log.csv")
    _both(tmp_path, spark, PrepareOptions(
        kind="csv", paths=(path,), label="click", positive="yes", categorical=("user", "item"),
        numeric=("price",), buckets=(("price", "quantile:8"),), dense=("ctr",),
        multivalued=("tags",), hash_buckets=(("item", 64),)), shards=2)


def test_a_bad_line_is_named(tmp_path, spark):
    path = _criteo(tmp_path / "bad.txt", rows=3000, bad_line=2345)
    opt = PrepareOptions(kind="criteo", paths=(path,))
    with pytest.raises(DataError) as polars_error:
        prepare(opt, str(tmp_path / "a"))
    with pytest.raises(DataError) as spark_error:
        prepare(opt, str(tmp_path / "b"), engine="spark", spark=spark)
    assert str(spark_error.value) == str(polars_error.value)
    assert f"{path}:2345:" in str(spark_error.value)
    assert not os.path.exists(tmp_path / "b")


def test_check_names_a_damaged_shard(tmp_path, spark):
    path = _criteo(tmp_path / "day.txt", rows=3000)
    out = tmp_path / "p"
    prepare(PrepareOptions(kind="criteo", paths=(path,)), str(out), engine="spark", spark=spark,
            shards=2)
    check_prepared(out)
    shard = out / "train-00001.ids.npy"
    data = shard.read_bytes()
    shard.write_bytes(data[:-40])                                       # truncated
    with pytest.raises(DataError, match="train-00001.ids.npy.*truncated"):
        check_prepared(out)
    shard.write_bytes(data[:-4] + bytes(4))                             # altered
    with pytest.raises(DataError, match="train-00001.ids.npy.*sha256"):
        check_prepared(out)
    shard.unlink()                                                      # missing
    with pytest.raises(DataError, match="train-00001.ids.npy.*missing"):
        check_prepared(out)


def test_a_gzip_file_spark_cannot_recognise_is_named(tmp_path, spark):
    import gzip
    path = tmp_path / "day.txt"
    path.write_bytes(gzip.compress(b"1\t" + b"\t" * 38 + b"\n"))
    with pytest.raises(DataError, match="gzip-compressed but not named .gz"):
        prepare(PrepareOptions(kind="criteo", paths=(str(path),)), str(tmp_path / "p"),
                engine="spark", spark=spark)


def test_without_pyspark_one_line_names_the_extra(monkeypatch):
    import sys
    from dcnmix.data.prepare.spark import session
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(RuntimeError, match=r"pip install 'dcnmix\[spark\]'"):
        session()


def test_a_spark_folder_trains_predicts_and_resumes_as_a_polars_one(tmp_path, spark):
    """One shard per split (--shards 1): training is exactly the polars one-file folder's
    (losses, weights); a 2-shard Spark folder resumes as one run, and its run folder scores
    raw rows like the polars run's (the same feature map)."""
    from test_streaming import _losses, _run, _weights
    from dcnmix.inference import load_run
    path = _criteo(tmp_path / "day.txt", rows=4000)
    opt = PrepareOptions(kind="criteo", paths=(path,))
    prepare(opt, str(tmp_path / "polars"))
    prepare(opt, str(tmp_path / "s1"), engine="spark", spark=spark, shards=1)
    prepare(opt, str(tmp_path / "s2"), engine="spark", spark=spark, shards=2)
    assert [len(load_manifest(tmp_path / n)["splits"]["train"]) for n in ("s1", "s2")] == [1, 2]
    runs = {n: _run(str(tmp_path / n), str(tmp_path / f"run-{n}"), "jax", 2) for n in ("polars", "s1")}
    assert _losses(runs["polars"].folder) == _losses(runs["s1"].folder)
    a, b = _weights(runs["polars"].folder), _weights(runs["s1"].folder)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    full = _run(str(tmp_path / "s2"), str(tmp_path / "full"), "jax", 2, buffer=900)
    _run(str(tmp_path / "s2"), str(tmp_path / "cut"), "jax", 1, buffer=900)
    cut = _run(str(tmp_path / "s2"), str(tmp_path / "cut"), "jax", 2, buffer=900, resume=True)
    assert _losses(full.folder) == _losses(cut.folder)
    rows = pl.read_csv(path, separator="\t", has_header=False, n_rows=300, infer_schema=False,
                       new_columns=["label", *[f"I{i}" for i in range(1, 14)],
                                    *[f"C{i}" for i in range(1, 27)]])
    rows = rows.with_columns(pl.col(f"I{i}").cast(pl.Float64) for i in range(1, 14))
    p_polars = load_run(runs["polars"].folder).predict(rows)
    p_spark = load_run(runs["s1"].folder).predict(rows)
    assert p_polars.shape == (300,) and np.array_equal(p_polars, p_spark)
