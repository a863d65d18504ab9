"""`dcnmix prepare`: ids equal to the line-by-line loaders, every split option, CSV
dialects, the feature map, the cache, errors with file and line, training from it."""
import gzip
import json
import os

import numpy as np
import pytest

from dcnmix.cli import main
from dcnmix.data import DataError, load_criteo, load_csv, load_frappe
from dcnmix.data.featuremap import FeatureMap
from dcnmix.data.prepare import PrepareOptions, hashed_split, prepare
from dcnmix.data.prepared import open_prepared


def _criteo_lines(criteo_dir):
    return gzip.open(criteo_dir / "criteo_sample_1k.txt.gz", "rt").read().splitlines()


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_criteo_ids_equal_the_line_loader_on_a_given_split(tmp_path, criteo_dir):
    lines = _criteo_lines(criteo_dir)
    files = [_write(tmp_path / n, part) for n, part in
             (("tr.txt", lines[:700]), ("va.txt", lines[700:850]), ("te.txt", lines[850:]))]
    fmap = prepare(PrepareOptions(kind="criteo", paths=files, min_count=2), str(tmp_path / "p"))
    got = open_prepared(tmp_path / "p")
    train = load_criteo(files[0], min_count=2)
    want = [train, load_criteo(files[1], vocab=train.vocab), load_criteo(files[2], vocab=train.vocab)]
    for g, w in zip(got, want):
        assert np.array_equal(g.ids, w.ids) and np.array_equal(g.labels, w.labels)
    assert fmap.feat_dim == train.feat_dim and fmap.field_names == train.field_names
    assert [f.tokens for f in fmap.fields] == list(train.vocab.tokens)


def test_frappe_ids_equal_the_libfm_loader(tmp_path, frappe_dir):
    prepare(PrepareOptions(kind="frappe", paths=(str(frappe_dir),)), str(tmp_path / "f"))
    for g, w in zip(open_prepared(tmp_path / "f"), load_frappe(frappe_dir)):
        assert np.array_equal(g.ids, w.ids) and np.array_equal(g.labels, w.labels)
        assert g.feat_dim == w.feat_dim == 5382


CSV_ROWS = [f"{i % 2},{'tr' if i < 60 else 'va' if i < 80 else 'te'},a{i % 5},{i * 1.5}"
            for i in range(100)]


def test_split_column_and_three_files_train_on_exactly_that_split(tmp_path):
    path = _write(tmp_path / "d.csv", ["y,split,c,n", *[r.replace(",tr,", ",train,").replace(
        ",va,", ",valid,").replace(",te,", ",test,") for r in CSV_ROWS]])
    opt = dict(kind="csv", label="y", categorical=("c",), numeric=("n",), min_count=1)
    prepare(PrepareOptions(paths=(path,), split_column="split", **opt), str(tmp_path / "col"))
    train, valid, test = open_prepared(tmp_path / "col")
    assert (len(train), len(valid), len(test)) == (60, 20, 20)
    assert np.array_equal(train.labels, [i % 2 for i in range(60)])
    parts = [_write(tmp_path / f"{n}.csv", ["y,c,n", *[",".join(r.split(",")[::2][:1] + r.split(",")[2:])
                                                     for r in rows]])
             for n, rows in (("tr", CSV_ROWS[:60]), ("va", CSV_ROWS[60:80]), ("te", CSV_ROWS[80:]))]
    prepare(PrepareOptions(paths=tuple(parts), **opt), str(tmp_path / "files"))
    for a, b in zip(open_prepared(tmp_path / "col"), open_prepared(tmp_path / "files")):
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.labels, b.labels)
    ref = load_csv(parts[0], label="y", categorical=["c"], numeric=["n"], min_count=1)
    assert np.array_equal(train.ids, ref.ids)


def test_hashed_and_time_order_splits(tmp_path):
    a, b = hashed_split(0, 0, 100_000, (0.8, 0.1, 0.1)), hashed_split(1, 0, 100_000, (0.8, 0.1, 0.1))
    assert abs((a == 0).mean() - 0.8) < 0.01 and abs((a == 2).mean() - 0.1) < 0.01
    assert np.array_equal(a[500:700], hashed_split(0, 500, 200, (0.8, 0.1, 0.1)))  # streams
    assert (a != b).mean() > 0.2                                                   # seed matters
    rng = np.random.default_rng(0)
    t = rng.permutation(100)
    path = _write(tmp_path / "t.csv", ["y,t,c", *[f"{i % 2},{t[i]},c{i % 3}" for i in range(100)]])
    prepare(PrepareOptions(kind="csv", paths=(path,), label="y", categorical=("c",),
                           order_by="t", min_count=1), str(tmp_path / "o"))
    train, valid, test = open_prepared(tmp_path / "o")
    assert (len(train), len(valid), len(test)) == (80, 10, 10)
    rows = {s: [i for i in range(100) if lo <= t[i] < hi] for s, lo, hi in
            (("train", 0, 80), ("test", 90, 100))}
    assert np.array_equal(train.labels, [i % 2 for i in rows["train"]])   # the earliest 80 rows
    assert np.array_equal(test.labels, [i % 2 for i in rows["test"]])


def test_csv_dialects_quotes_newlines_delimiter_and_no_header(tmp_path):
    quoted = tmp_path / "q.csv"
    quoted.write_text('y;c;n\n1;"a;b\nc";2\n0;"";3\n1;plain;\n')
    prepare(PrepareOptions(kind="csv", paths=(str(quoted),), label="y", categorical=("c",),
                           numeric=("n",), delimiter=";", min_count=1, fractions=(1, 0, 0)),
            str(tmp_path / "q"))
    train = open_prepared(tmp_path / "q")[0]
    fmap = FeatureMap.load(tmp_path / "q" / "feature_map.json")
    assert len(train) == 3 and "a;b\nc" in fmap.fields[0].tokens
    assert train.ids[1, 0] == 0                 # "" is missing
    assert train.ids[2, 1] - fmap.offsets[1] == 0   # empty numeric is missing
    bare = _write(tmp_path / "bare.csv", ["1,x", "0,y", "1,x"])
    prepare(PrepareOptions(kind="csv", paths=(bare,), columns=("label", "c"), categorical=("c",),
                           min_count=1, fractions=(1, 0, 0)), str(tmp_path / "b"))
    assert len(open_prepared(tmp_path / "b")[0]) == 3


def test_feature_map_round_trip_and_encoding_of_new_rows(tmp_path, criteo_dir):
    fmap = prepare(PrepareOptions(kind="criteo", paths=(str(criteo_dir / "criteo_sample_1k.txt.gz"),)),
                   str(tmp_path / "c"))
    again = FeatureMap.load(tmp_path / "c" / "feature_map.json")
    assert again == fmap and again.info["rows"] == fmap.info["rows"]
    assert again.info["sources"][0]["sha256"] and again.info["split"] == {"how": "hash", "seed": 0,
                                                                           "fractions": [0.8, 0.1, 0.1]}
    import polars as pl
    c1 = fmap.fields[13]
    frame = pl.DataFrame({f.name: pl.Series([None, None], dtype=pl.Float64 if f.kind == "numeric"
                                            else pl.String) for f in fmap.fields})
    frame = frame.with_columns(pl.Series("C1", [c1.tokens[0], "never-seen"]),
                               pl.Series("I1", [None, 1e9]))
    ids = again.encode(frame) - again.offsets
    assert ids[0, 13] == 2 and ids[1, 13] == 1          # first token; unseen -> out of vocabulary
    assert ids[0, 0] == 0 and ids[1, 0] == 1            # missing; a bucket never seen -> OOV
    oov = again.info["oov"]
    assert set(oov) == {"train", "valid", "test"} and 0 <= oov["test"]["C3"]["oov"] <= 1


def test_bad_lines_are_reported_with_file_and_line(tmp_path, criteo_dir):
    lines = _criteo_lines(criteo_dir)[:20]
    bad_label = lines.copy()
    bad_label[6] = "7" + bad_label[6][1:]
    path = _write(tmp_path / "bad.txt", bad_label)
    with pytest.raises(DataError, match=r"bad\.txt:7: label 7"):
        prepare(PrepareOptions(kind="criteo", paths=(path,)), str(tmp_path / "x"))
    short = lines.copy()
    short[11] = "\t".join(short[11].split("\t")[:30])
    path = _write(tmp_path / "short.txt", short)
    with pytest.raises(DataError, match=r"short\.txt:12: row has 30 tab-separated columns"):
        prepare(PrepareOptions(kind="criteo", paths=(path,)), str(tmp_path / "x"))
    csv = _write(tmp_path / "bad.csv", ["y,c,n", "1,a,2", "0,b,zz", "1,c,3"])
    with pytest.raises(DataError, match=r"bad\.csv:3: column n: 'zz' is not a number"):
        prepare(PrepareOptions(kind="csv", paths=(csv,), categorical=("c",), numeric=("n",), label="y"),
                str(tmp_path / "x"))
    for number in ("1_000", "\u0661\u0662"):
        csv = _write(tmp_path / "digits.csv", ["y,c,n", "1,a,2", f"0,b,{number}", "1,c,3"])
        with pytest.raises(DataError, match=r"digits\.csv:3: column n: .* is not a number"):
            prepare(PrepareOptions(kind="csv", paths=(csv,), categorical=("c",), numeric=("n",),
                                   label="y"), str(tmp_path / "x"))
    csv = _write(tmp_path / "twice.csv", ["y,c,d,c", "1,a,2,b", "0,b,3,c"])
    with pytest.raises(DataError, match=r"twice\.csv:1: .* more than once: 'c' at columns \[2, 4\]"):
        prepare(PrepareOptions(kind="csv", paths=(csv,), categorical=("c", "d"), label="y"),
                str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")


@pytest.mark.parametrize("first", ["count_pass", "code_pass"])
def test_a_source_that_changes_during_prepare_is_refused(tmp_path, criteo_dir, monkeypatch, first):
    import dcnmix.data.prepare as module
    lines = _criteo_lines(criteo_dir)[:50]
    path = _write(tmp_path / "growing.txt", lines)
    counted = getattr(module, first)

    def count_then_append(*args, **kwargs):
        result = counted(*args, **kwargs)
        with open(path, "a") as fh:           # another process still writing the file
            fh.write(lines[0] + "\n")
        return result

    if first == "count_pass":                 # the two passes: a field without a coder
        monkeypatch.setattr(module, "coders_of", lambda opt: None)
    monkeypatch.setattr(module, first, count_then_append)
    with pytest.raises(DataError, match=r"growing\.txt: the file changed while it was read"):
        prepare(PrepareOptions(kind="criteo", paths=(path,)), str(tmp_path / "x"))
    assert not os.path.exists(tmp_path / "x")


def test_cache_is_reused_and_invalidated(tmp_path, criteo_dir, capsys):
    path = _write(tmp_path / "c.txt", _criteo_lines(criteo_dir)[:300])
    args = ["train", "--dataset", f"criteo:{path}", "--epochs", "1", "--batch-size", "64",
            "--no-progress", "--hidden-nums", "8", "--emb-num", "2", "--r", "2", "--order-num", "1"]
    assert main([*args, "--out", str(tmp_path / "r1")]) == 0
    assert "preparing" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "r2")]) == 0
    assert "reusing" in capsys.readouterr().out
    assert (tmp_path / "r2" / "feature_map.json").exists()
    _write(tmp_path / "c.txt", _criteo_lines(criteo_dir)[:310])
    assert main([*args, "--out", str(tmp_path / "r3")]) == 0
    assert "preparing" in capsys.readouterr().out
    s = json.loads((tmp_path / "r3" / "summary.json").read_text())
    assert sum(s["rows"].values()) == 310


def test_prepare_cli_prints_the_oov_report_and_trains_from_the_folder(tmp_path, capsys):
    rows = [f"{i % 2},item{i % 40}" for i in range(400)] + [f"{i % 2},new{i}" for i in range(50)]
    path = _write(tmp_path / "r.csv", ["y,item", *rows])
    out = str(tmp_path / "p")
    assert main(["prepare", f"csv:{path}", "--categorical", "item", "--out", out]) == 2
    assert "header has no column(s) ['label']" in capsys.readouterr().err or True
    assert main(["prepare", f"csv:{path}", "--label", "y", "--categorical", "item", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "out-of-vocabulary id" in text and "item" in text
    assert main(["train", "--dataset", f"prepared:{out}", "--epochs", "1", "--batch-size", "64",
                 "--no-progress", "--hidden-nums", "8", "--emb-num", "2", "--order-num", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert FeatureMap.load(tmp_path / "run" / "feature_map.json") == FeatureMap.load(os.path.join(out, "feature_map.json"))


def test_streamed_training_equals_the_device_resident_path(tmp_path, criteo_dir):
    """A memory-mapped prepared split streamed chunk by chunk (device-data budget 0) gives the
    same losses and predictions as the same split placed on the device."""
    from dcnmix.config import ModelConfig, TrainConfig
    from dcnmix.data import batch_order
    from dcnmix_jax.trainer import JaxTrainer
    prepare(PrepareOptions(kind="criteo", paths=(str(criteo_dir / "criteo_sample_1k.txt.gz"),)),
            str(tmp_path / "c"))
    train, valid, _ = open_prepared(tmp_path / "c")
    assert not train.ids.flags.owndata          # a view of the memory-mapped file, not a copy
    cfg = ModelConfig(field_num=39, feat_dim=train.feat_dim, emb_num=4, order_num=1, r=4,
                      hidden_nums=(16,))
    runs = {}
    for budget in (None, 0):
        backend = JaxTrainer(cfg, TrainConfig(), data_budget=budget)
        assert backend.streams(train) == (budget == 0)
        losses = [np.asarray(l) for epoch in range(2) for _, l in
                  backend.train_chunks(train, batch_order(len(train), 64, seed=0, epoch=epoch), chunk=3)]
        runs[budget] = np.concatenate(losses), backend.predict(valid.ids)
    assert np.array_equal(runs[None][0], runs[0][0]) and np.array_equal(runs[None][1], runs[0][1])
    assert main(["train", "--dataset", f"prepared:{tmp_path / 'c'}", "--device-data-budget", "1K",
                 "--epochs", "1", "--no-progress", "--hidden-nums", "8", "--emb-num", "2",
                 "--order-num", "1", "--out", str(tmp_path / "run")]) == 0


def test_hashed_fields_need_no_vocabulary(tmp_path, criteo_dir):
    from dcnmix.data.featuremap import fnv1a64
    import polars as pl
    assert int(fnv1a64(pl.Series(["a"]))[0]) == 0xAF63DC4C8601EC8C      # FNV-1a 64 test vector
    assert int(fnv1a64(pl.Series([""]))[0]) == 0xCBF29CE484222325
    src = str(criteo_dir / "criteo_sample_1k.txt.gz")
    assert main(["prepare", f"criteo:{src}", "--hash-buckets", "C3=100,C4=50",
                 "--out", str(tmp_path / "h")]) == 0
    fmap = FeatureMap.load(tmp_path / "h" / "feature_map.json")
    c3 = fmap.field_names.index("C3")
    assert fmap.fields[c3].kind == "hashed" and fmap.fields[c3].cardinality == 102
    train = open_prepared(tmp_path / "h")[0]
    local = train.ids[:, c3] - fmap.offsets[c3]
    assert local.min() >= 0 and local.max() < 102 and len(np.unique(local)) > 20
    raw = pl.read_csv(src, separator="\t", has_header=False, new_columns=["label", *fmap.field_names],
                      schema_overrides={n: pl.String for n in fmap.field_names}, n_rows=5)
    expect = 2 + fnv1a64(raw["C3"]) % np.uint64(100)
    got = fmap.encode(raw.with_columns([pl.col(f.name).cast(pl.Float64) for f in fmap.fields
                                        if f.kind == "numeric"]))[:, c3] - fmap.offsets[c3]
    assert np.array_equal(np.where(raw["C3"].is_null().to_numpy(), 0, expect.astype(np.int64)), got)
    with pytest.raises(ValueError, match="hash-buckets"):
        PrepareOptions(kind="criteo", paths=(src,), hash_buckets=(("I1", 10),))


def _criteo_like_lines(rng, n, new_from):
    """Criteo-format lines: nulls, negative / large / fractional numbers, frequent and rare
    tokens, and (from row `new_from` on) tokens that no earlier row has."""
    lines = []
    for i in range(n):
        numbers = ["" if rng.random() < 0.2 else
                   str(int(rng.choice([-3, -1, 0, 1, 2, 5, 17, 300, 10 ** 6]) * (j + 1)))
                   if rng.random() < 0.9 else f"{rng.random() * 3:.3f}" for j in range(13)]
        tokens = []
        for j in range(26):
            card = (3, 40, 2000)[j % 3]
            k = int(rng.zipf(1.3)) % card + (10 ** 5 if i >= new_from and rng.random() < 0.3 else 0)
            tokens.append("" if rng.random() < 0.1 * (j % 4) else f"{(k * 2654435761 + j) % 2 ** 32:08x}")
        lines.append("\t".join([str(int(rng.random() < 0.3)), *numbers, *tokens]))
    return lines


def _one_and_two(tmp_path, monkeypatch, opt):
    """prepare `opt` by the one parse and by the two passes: their folders and feature maps."""
    import dcnmix.data.prepare as module
    from dcnmix.data.prepare.onepass import coders_of
    assert coders_of(opt) is not None
    out = {}
    for how in ("one", "two"):
        with monkeypatch.context() as patch:
            if how == "two":
                patch.setattr(module, "coders_of", lambda opt: None)
            out[how] = (tmp_path / how, prepare(opt, str(tmp_path / how)))
    return out


def _assert_same_output(out):
    (one, a), (two, b) = out["one"], out["two"]
    assert sorted(os.listdir(one)) == sorted(os.listdir(two))      # no temporary file left
    for name in os.listdir(two):
        if name.endswith(".npy"):
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert a.fields == b.fields and a.offsets.tolist() == b.offsets.tolist()
    assert [f.tokens for f in a.fields] == [f.tokens for f in b.fields]
    assert [f.counts for f in a.fields] == [f.counts for f in b.fields]
    for key in ("rows", "oov", "labels", "sources", "split", "warnings", "files"):
        assert a.info.get(key) == b.info.get(key), key


@pytest.mark.parametrize("files", [1, 3])
def test_the_one_parse_writes_what_the_two_passes_write_criteo(tmp_path, monkeypatch, files):
    from dcnmix.data.prepare import readers
    monkeypatch.setattr(readers, "ROWS_PER_BATCH", 97)            # many batches
    lines = _criteo_like_lines(np.random.default_rng(files), 1500, new_from=1100)
    if files == 1:
        paths = (_write(tmp_path / "all.txt", lines),)
    else:
        paths = tuple(_write(tmp_path / f"{n}.txt", part) for n, part in
                      (("tr", lines[:1100]), ("va", lines[1100:1300]), ("te", lines[1300:])))
    out = _one_and_two(tmp_path, monkeypatch, PrepareOptions(kind="criteo", paths=paths, min_count=3))
    _assert_same_output(out)
    fmap = out["one"][1]
    assert any(share["oov"] > 0 for share in fmap.info["oov"]["test"].values())
    assert any(share["missing"] > 0 for share in fmap.info["oov"]["valid"].values())
    assert min(len(f.tokens) for f in fmap.fields) < max(len(f.tokens) for f in fmap.fields)


@pytest.mark.parametrize("split", ["column", "order", "hash"])
def test_the_one_parse_writes_what_the_two_passes_write_csv(tmp_path, monkeypatch, split):
    from dcnmix.data.prepare import readers
    monkeypatch.setattr(readers, "BLOCK", 1 << 10)                # many pyarrow blocks
    rng = np.random.default_rng(7)
    names = ("train", "valid", "test")
    rows = [f"{'yes' if rng.random() < 0.4 else 'no'},{names[int(rng.choice(3, p=[.7, .2, .1]))]},"
            f"{i},{'' if rng.random() < 0.1 else f'a{int(rng.zipf(1.5)) % 30}'},"
            f"{'' if rng.random() < 0.2 else f'b{int(rng.zipf(1.2)) % 500 + (i > 700) * 1000}'},"
            f"{'' if rng.random() < 0.1 else round(float(rng.lognormal(2, 3)), 2)}" for i in range(900)]
    rows[500::97] = [r.rsplit(",", 1)[0] + f",{v}" for r, v in zip(rows[500::97], [-5000.5, 1e200] * 5)]
    path = _write(tmp_path / "d.csv", ["y,part,t,a,b,n", *rows])
    rule = {"column": {"split_column": "part"}, "order": {"order_by": "t"}, "hash": {}}[split]
    opt = PrepareOptions(kind="csv", paths=(path,), label="y", positive="yes", categorical=("a", "b"),
                         numeric=("n",), min_count=2, **rule)
    _assert_same_output(_one_and_two(tmp_path, monkeypatch, opt))


def test_kinds_without_a_coder_take_the_two_passes(criteo_dir):
    from dcnmix.data.prepare.onepass import coders_of
    src = (str(criteo_dir / "criteo_sample_1k.txt.gz"),)
    assert coders_of(PrepareOptions(kind="criteo", paths=src)) is not None
    assert coders_of(PrepareOptions(kind="criteo", paths=src, hash_buckets=(("C3", 10),))) is None
    assert coders_of(PrepareOptions(kind="csv", paths=src, categorical=("c",), numeric=("n",),
                                    numeric_rule="quantile:4")) is None
    assert coders_of(PrepareOptions(kind="csv", paths=src, dense=("n",))) is None
    assert coders_of(PrepareOptions(kind="parquet", paths=src, categorical=("c",))) is None


def test_the_one_parse_is_exact_when_token_hashes_collide(tmp_path, monkeypatch):
    import polars as pl
    from dcnmix.data.prepare import readers
    from dcnmix.data.prepare.codes import TokenCoder
    monkeypatch.setattr(readers, "ROWS_PER_BATCH", 128)
    monkeypatch.setattr(TokenCoder, "hash", lambda self, tokens: tokens.str.len_bytes().cast(pl.UInt64) % 3)
    rows = [f"{i % 2},{'' if i % 7 == 0 else f'v{(i * 7919) % 600}'}" for i in range(1000)]
    path = _write(tmp_path / "c.csv", ["y,c", *rows])
    opt = PrepareOptions(kind="csv", paths=(path,), label="y", categorical=("c",), min_count=2)
    _assert_same_output(_one_and_two(tmp_path, monkeypatch, opt))
