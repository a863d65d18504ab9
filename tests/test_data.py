"""The numpy data layer: loaders, bad input, splits, batches, the synthetic default."""
import gzip

import numpy as np
import pytest

from dcnmix.data import (DataError, Dataset, batch_order, batches, load_criteo, load_csv,
                         load_frappe, load_libfm, load_libfm_splits, split, synthetic)
from dcnmix.data.tabular import CRITEO_CATEGORICAL, CRITEO_NUMERIC
from dcnmix.data.textfile import read_lines


def test_synthetic_is_shaped_like_the_seed_and_deterministic():
    d = synthetic(n=5000, seed=3)
    assert d.ids.shape == (5000, 10) and d.ids.dtype == np.int32
    assert d.feat_dim == 72 and sum(d.cardinalities) == 72 and d.field_num == 10
    offsets = np.concatenate([[0], np.cumsum(d.cardinalities)[:-1]])
    local = d.ids - offsets
    assert (local >= 0).all() and (local < np.array(d.cardinalities)).all()
    assert 0.4 < d.labels.mean() < 0.6
    again = synthetic(n=5000, seed=3)
    assert np.array_equal(d.ids, again.ids) and np.array_equal(d.labels, again.labels)
    other = synthetic(n=5000, seed=4)
    assert not np.array_equal(d.ids, other.ids)


def _write(path, text, gz=False):
    data = text.encode() if isinstance(text, str) else text
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def test_libfm_crlf_gzip_and_labels(tmp_path):
    text = "-1 3:1 7:1\r\n1 2:1 9:1\r\n0 0:1 5:1\r\n"
    for gz in (False, True):
        d = load_libfm(_write(tmp_path / f"a{gz}.libfm", text, gz))
        assert d.ids.tolist() == [[3, 7], [2, 9], [0, 5]]
        assert d.labels.tolist() == [0.0, 1.0, 0.0]
        assert d.feat_dim == 10


@pytest.mark.parametrize("text,line,what", [
    ("1 1:1 2:1\n1 3:1 x:1\n", 2, "not 'id:value'"),
    ("1 1:1 2:1\n1 3:1 4\n", 2, "not 'id:value'"),
    ("1 1:1 2:1\n0 3:1\n", 2, "expected 2"),
    ("1 1:1 2:1\n2 3:1 4:1\n", 2, "label '2'"),
    ("1 1:1 2:1\n\n", 2, "empty line"),
    ("1 1:1 2:0.5\n", 1, "one-hot"),
    ("1 1:1 -2:1\n", 1, "outside"),
    ("1 1:1 2:1\n1 2147483648:1 2:1\n", 2, "outside the int32 range"),
    ("1 1:1 2:1\n1 4294967297:1 2:1\n", 2, "outside the int32 range"),    # would wrap to 1
    ("1 100000000000000000000:1 2:1\n", 1, "outside the int32 range"),     # was OverflowError
    ("1 1_0:1 2:1\n", 1, "ASCII digits"),
    ("1 1:1_0 2:1\n", 1, "ASCII digits"),
    ("1 \u0661:1 2:1\n", 1, "ASCII digits"),                              # Arabic-Indic one
    ("1 1e3:1 2:1\n", 1, "ASCII digits"),
])
def test_libfm_bad_input_names_file_and_line(tmp_path, text, line, what):
    path = _write(tmp_path / "bad.libfm", text)
    with pytest.raises(DataError, match=what) as info:
        load_libfm(path)
    assert info.value.line == line and str(path) in str(info.value)


def test_libfm_id_outside_feat_dim_and_empty_and_binary(tmp_path):
    with pytest.raises(DataError, match=r"bad.libfm:2: feature id 12 .* outside \[0, 10\)"):
        load_libfm(_write(tmp_path / "bad.libfm", "1 1:1 2:1\n1 3:1 12:1\n"), feat_dim=10)
    with pytest.raises(DataError, match="no rows"):
        load_libfm(_write(tmp_path / "empty.libfm", ""))
    with pytest.raises(DataError, match="UTF-8") as info:
        load_libfm(_write(tmp_path / "bin.libfm", b"1 1:1\n1 \xff\xfe:1\n"))
    assert info.value.line == 2
    with pytest.raises(DataError, match="no such file"):
        load_libfm(tmp_path / "missing.libfm")


def test_a_file_that_changes_while_read_is_refused(tmp_path):
    path = _write(tmp_path / "growing.libfm", "1 1:1 2:1\n" * 50)
    lines = read_lines(path)
    next(lines)
    with open(path, "r+") as fh:          # truncated at a line boundary mid-read
        fh.truncate(len("1 1:1 2:1\n") * 20)
    with pytest.raises(DataError, match="changed while it was read"):
        list(lines)


def test_truncated_gzip_is_refused(tmp_path):
    data = gzip.compress(("1 1:1 2:1\n" * 5000).encode())
    with pytest.raises(DataError, match="cannot read"):
        load_libfm(_write(tmp_path / "t.libfm.gz", data[: len(data) // 2]))


def test_libfm_splits_share_one_id_space(tmp_path):
    a = _write(tmp_path / "a", "1 0:1 3:1\n")
    b = _write(tmp_path / "b", "0 1:1 8:1\n")
    da, db = load_libfm_splits([a, b])
    assert da.feat_dim == db.feat_dim == 9


def test_frappe_splits(frappe_dir):
    train, valid, test = load_frappe(frappe_dir)
    assert (len(train), len(valid), len(test)) == (202_027, 57_722, 28_860)
    assert train.field_num == 10 and train.feat_dim == 5382
    all_ids = np.concatenate([train.ids, valid.ids, test.ids])
    assert all_ids.min() == 0 and all_ids.max() == 5381
    assert train.cardinalities == (957, 4082, 7, 7, 2, 3, 2, 9, 80, 233)
    assert abs(test.labels.mean() - 0.330423) < 1e-6


def test_criteo_sample(criteo_dir):
    d = load_criteo(criteo_dir / "criteo_sample_1k.txt.gz")
    assert d.ids.shape == (1000, 39)
    assert abs(d.labels.mean() - 0.205) < 1e-9
    assert d.feat_dim == sum(d.cardinalities)
    csv = load_csv(criteo_dir / "deepctr_criteo_sample.txt.gz", label="label",
                   categorical=CRITEO_CATEGORICAL, numeric=CRITEO_NUMERIC)
    assert csv.ids.shape == (200, 39)


CRITEO_ROW = "\t".join(["1", "5", "-1", "", "300"] + ["7"] * 9 + ["abcd1234"] * 25 + [""])


def test_criteo_vocabulary_missing_oov_and_reuse(tmp_path):
    rows = [CRITEO_ROW] * 3 + [CRITEO_ROW.replace("abcd1234", "rare", 1)]
    train = load_criteo(_write(tmp_path / "train.tsv", "\n".join(rows) + "\n"), min_count=2)
    assert train.ids.shape == (4, 39)
    c1 = list(train.field_names).index("C1")
    c26 = list(train.field_names).index("C26")
    offsets = np.concatenate([[0], np.cumsum(train.cardinalities)[:-1]])
    assert train.ids[3, c1] - offsets[c1] == 1          # seen once < min_count: out of vocabulary
    assert train.ids[0, c1] - offsets[c1] == 2          # kept token
    assert (train.ids[:, c26] - offsets[c26] == 0).all()  # missing has its own id
    unseen = CRITEO_ROW.replace("abcd1234", "never", 1)
    test = load_criteo(_write(tmp_path / "test.tsv", unseen + "\n"), vocab=train.vocab)
    assert test.feat_dim == train.feat_dim and test.ids[0, c1] - offsets[c1] == 1


@pytest.mark.parametrize("row,what", [
    (CRITEO_ROW + "\textra", "41 tab-separated"),
    ("2" + CRITEO_ROW[1:], "label '2'"),
    (CRITEO_ROW.replace("\t5\t", "\tfive\t", 1), "I1: 'five' is not a number"),
    (CRITEO_ROW.replace("\t5\t", "\tnan\t", 1), "not a finite number"),
])
def test_criteo_bad_rows(tmp_path, row, what):
    path = _write(tmp_path / "bad.tsv", CRITEO_ROW + "\n" + row + "\n")
    with pytest.raises(DataError, match=what) as info:
        load_criteo(path)
    assert info.value.line == 2 and "bad.tsv:2" in str(info.value)


def test_csv_loader_and_errors(tmp_path):
    ok = _write(tmp_path / "ok.csv", "y,a,b,n\n1,x,p,3\n0,y,p,\n1,x,q,10.5\n")
    d = load_csv(ok, label="y", categorical=["a", "b"], numeric=["n"], min_count=1)
    assert d.field_names == ("a", "b", "n") and d.ids.shape == (3, 3)
    assert d.labels.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(DataError, match="no column"):
        load_csv(ok, label="y", categorical=["zzz"])
    with pytest.raises(DataError, match="ragged.csv:3: row has 2 columns"):
        load_csv(_write(tmp_path / "ragged.csv", "y,a,b\n1,x,p\n0,y\n"), label="y", categorical=["a"])
    with pytest.raises(DataError, match="empty"):
        load_csv(_write(tmp_path / "empty.csv", ""), label="y", categorical=["a"])
    with pytest.raises(DataError, match="no rows"):
        load_csv(_write(tmp_path / "header.csv", "y,a\n"), label="y", categorical=["a"])
    with pytest.raises(DataError, match="twice.csv:1: the header names a column more than once"):
        load_csv(_write(tmp_path / "twice.csv", "y,a,a\n1,x,p\n"), label="y", categorical=["a"])


def test_split_is_deterministic_disjoint_and_complete():
    d = synthetic(n=1000, seed=0)
    parts = split(d, (0.8, 0.1, 0.1), seed=5)
    assert [len(p) for p in parts] == [800, 100, 100]
    again = split(d, (0.8, 0.1, 0.1), seed=5)
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(parts, again))
    rows = {tuple(r) + (l,) for p in parts for r, l in zip(p.ids.tolist(), p.labels.tolist())}
    assert len(np.concatenate([p.ids for p in parts])) == 1000
    assert rows == {tuple(r) + (l,) for r, l in zip(d.ids.tolist(), d.labels.tolist())}
    with pytest.raises(ValueError, match="sum to 1"):
        split(d, (0.5, 0.2))


def test_batches_shuffle_by_seed_and_epoch_and_drop_last():
    d = synthetic(n=1000, seed=0)
    plain = [i for b in batch_order(1000, 300) for i in b]
    assert plain == list(range(1000))
    a = batch_order(1000, 300, seed=1, epoch=0)
    assert [len(b) for b in a] == [300, 300, 300, 100]
    assert sorted(np.concatenate(a).tolist()) == list(range(1000))
    assert all(np.array_equal(x, y) for x, y in zip(a, batch_order(1000, 300, seed=1, epoch=0)))
    assert not np.array_equal(a[0], batch_order(1000, 300, seed=1, epoch=1)[0])
    assert [len(b) for b in batch_order(1000, 300, seed=1, drop_last=True)] == [300] * 3
    ids, labels = next(batches(d, 64, seed=1))
    assert ids.shape == (64, 10) and labels.shape == (64,) and labels.dtype == np.float32


def test_dataset_validates_ids_and_labels():
    ids = np.array([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"feature id 3 in field 'b'"):
        Dataset(ids, np.array([0, 1]), ("a", "b"), (2, 2), feat_dim=3)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        Dataset(ids, np.array([0, 2]), ("a", "b"), (2, 2), feat_dim=4)


@pytest.mark.parametrize("text", [
    "-1 3:1 7:1\r\n1 2:1 9:1\r\n0 0:1 5:1\r\n",      # Windows line ends
    "1 3:1  7:1 \n0 2:1 9:1",                         # two spaces, a trailing one, no last newline
    "+1 3:1 7:1\n1.0 2:1 9:1\n",                      # labels the line parser also reads
    "1 3:1 7:1.0\n0 2:1 9:1\n",                       # a value of 1 written 1.0
])
def test_libfm_fast_parse_equals_the_line_parser(tmp_path, text, frappe_dir, monkeypatch):
    import dcnmix.data.libfm as libfm
    paths = [_write(tmp_path / "a.libfm", text)] + [frappe_dir / f for f in libfm.FRAPPE_FILES[2:]]
    fast = [libfm.read_libfm(p) for p in paths]
    monkeypatch.setattr(libfm, "_read_plain", lambda data: None)
    for (ids, labels), p in zip(fast, paths):
        slow_ids, slow_labels = libfm.read_libfm(p)
        assert ids.dtype == slow_ids.dtype and labels.dtype == slow_labels.dtype
        np.testing.assert_array_equal(ids, slow_ids)
        np.testing.assert_array_equal(labels, slow_labels)
