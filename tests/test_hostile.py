"""The adversarial suite of issue 26, by class: links, ownership, concurrency, stale data,
validation parity, extremes, hostile run folders, and what a new user tripped on. Each case
failed on the code before it (a write through a planted link, a folder deleted, stale or
foreign data used, a wrong result without a word, a traceback or a hang); none depends on a
timing. Commands go through `dcnmix.cli.main`: a mistake is one line on stderr, exit 2."""
import errno
import fcntl
import json
import os
import shutil
import sys

import numpy as np
import pytest

from dcnmix import files
from dcnmix.cli import main
from dcnmix.data import DataError
from dcnmix.data.prepare import PrepareOptions, prepare
from dcnmix.data.prepared import cache_folder, check_prepared, open_prepared

TINY = ["--batch-size", "128", "--no-progress", "--hidden-nums", "8", "--emb-num", "4",
        "--r", "4", "--order-num", "1", "--epochs", "1"]
FIELDS = ["--categorical", "user", "--numeric", "price"]
SECRET = b"the user's own file\n"


def _csv(path, n=400, seed=0, bom=False, labels=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n) if labels is None else labels
    rows = [f"{a},u{u},{p:.3f},r{i}" for i, (a, u, p) in
            enumerate(zip(y, rng.integers(0, 6, n), rng.random(n) * 9))]
    text = "\n".join(["label,user,price,req", *rows]) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A CSV, its prepared folder and one JAX run trained on it."""
    d = tmp_path_factory.mktemp("hostile")
    _csv(d / "d.csv")
    assert main(["prepare", f"csv:{d / 'd.csv'}", *FIELDS, "--out", str(d / "prep")]) == 0
    assert main(["train", "--dataset", f"prepared:{d / 'prep'}", *TINY, "--out", str(d / "run")]) == 0
    return d


def _fails(argv, capsys, *expected):
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:          # argparse's own mistakes: one line too (flags.Parser)
        code = exc.code
    assert code == 2
    out = capsys.readouterr().err
    assert "Traceback" not in out, out
    err = out.strip().splitlines()[-1]          # after a progress line, if one was open
    assert err.startswith("error: ") and out.count("error") == 1, out
    for text in expected:
        assert text in err, err
    return err


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SECRET)
    return victim


def _copy(root, tmp_path, name="run"):
    out = tmp_path / name
    shutil.copytree(root / name, out, symlinks=True)
    return out


# ------------------------------------------------------------------------------ links
def test_a_planted_lock_link_is_refused_and_its_target_untouched(root, tmp_path, capsys):
    run, victim = _copy(root, tmp_path), _victim(tmp_path)
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(victim)
    _fails(["train", "--dataset", f"prepared:{root / 'prep'}", *TINY, "--out", run, "--resume"],
           capsys, ".lock", "symbolic link")
    assert victim.read_bytes() == SECRET


def test_the_write_probe_never_follows_a_planted_link(root, tmp_path):
    out, victim = tmp_path / "fresh", _victim(tmp_path)
    out.mkdir()
    (out / ".write-test").symlink_to(victim)
    assert main(["train", "--dataset", f"prepared:{root / 'prep'}", *TINY, "--out", str(out)]) == 0
    assert victim.read_bytes() == SECRET and (out / ".write-test").is_symlink()


def test_an_output_folder_that_is_a_link_is_refused_unless_allowed(root, tmp_path, capsys,
                                                                   monkeypatch):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    _fails(["train", "--dataset", f"prepared:{root / 'prep'}", *TINY, "--out", tmp_path / "link"],
           capsys, "symbolic link", "DCNMIX_ALLOW_LINKS")
    _fails(["prepare", f"csv:{root / 'd.csv'}", *FIELDS, "--out", tmp_path / "link"], capsys,
           "symbolic link")
    assert os.listdir(real) == []
    monkeypatch.setenv("DCNMIX_ALLOW_LINKS", "1")
    assert main(["train", "--dataset", f"prepared:{root / 'prep'}", *TINY,
                 "--out", str(tmp_path / "link")]) == 0
    assert (real / "summary.json").is_file()


def test_svd_predict_and_export_replace_planted_links_never_follow_them(root, tmp_path):
    run, victim = _copy(root, tmp_path), _victim(tmp_path)
    for name in ("svd.csv", "svd.png"):
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(victim)
    assert main(["svd", str(run)]) == 0
    assert not (run / "svd.csv").is_symlink() and (run / "svd.png").stat().st_size > 0
    out = tmp_path / "scores"
    out.mkdir()
    (out / "p.csv.metrics.json").symlink_to(victim)
    (out / ".tmp-p.csv").symlink_to(victim)         # the old fixed temporary name
    assert main(["predict", str(run), "--data", f"csv:{root / 'd.csv'}", "--out", str(out / "p.csv")]) == 0
    assert json.loads((out / "p.csv.metrics.json").read_text())["rows"] == 400
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "feature_map.json").symlink_to(victim)
    assert main(["export", str(run), "--format", "stablehlo", "--out", str(exp / "m.bin"),
                 "--overwrite"]) == 0
    assert not (exp / "feature_map.json").is_symlink()
    assert victim.read_bytes() == SECRET


def test_write_bytes_replaces_a_link_at_the_final_name(tmp_path):
    victim = _victim(tmp_path)
    (tmp_path / "out.json").symlink_to(victim)
    files.write_bytes(tmp_path / "out.json", b"{}")
    assert victim.read_bytes() == SECRET and (tmp_path / "out.json").read_bytes() == b"{}"
    assert not [n for n in os.listdir(tmp_path) if n.startswith(files.TMP_PREFIX)]


# ------------------------------------------------------------------------------ ownership
@pytest.mark.parametrize("holds", ["input", "other", "run"])
def test_prepare_never_replaces_a_folder_it_does_not_own(root, tmp_path, capsys, holds):
    out = tmp_path / "out"
    out.mkdir()
    data = _csv(out / "d.csv") if holds == "input" else root / "d.csv"
    if holds == "other":
        (out / "notes.txt").write_text("mine")
    if holds == "run":
        out = _copy(root, tmp_path / "r")
    before = sorted(os.listdir(out))
    _fails(["prepare", f"csv:{data}", *FIELDS, "--out", out], capsys,
           "holds the input" if holds == "input" else "not a prepared folder")
    assert sorted(os.listdir(out)) == before


def test_prepare_refuses_the_working_folder(root, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    monkeypatch.chdir(work)
    _fails(["prepare", f"csv:{root / 'd.csv'}", *FIELDS, "--out", "."], capsys, "working folder")
    _fails(["prepare", f"csv:{root / 'd.csv'}", *FIELDS, "--out", ".."], capsys, "working folder")
    assert (work / "keep.txt").exists()


def test_prepare_replaces_its_own_folder_and_a_failed_swap_keeps_the_old_one(root, tmp_path,
                                                                             monkeypatch):
    out = tmp_path / "p"
    opt = PrepareOptions(kind="csv", paths=(str(root / "d.csv"),), categorical=("user",))
    prepare(opt, str(out))
    first = (out / "feature_map.json").read_bytes()
    prepare(dataclass_replace(opt, min_count=1), str(out))        # replaced: it is ours
    assert (out / "feature_map.json").read_bytes() != first
    second = (out / "feature_map.json").read_bytes()
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)    # no renameat2: rename aside
    real, calls = os.rename, []

    def failing(a, b):
        calls.append(b)
        if len(calls) == 2:                                       # the new folder into place
            raise OSError(errno.EIO, "injected")
        return real(a, b)
    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError):
        prepare(opt, str(out))
    assert (out / "feature_map.json").read_bytes() == second       # the old folder is back
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")] == []


def dataclass_replace(opt, **changes):
    import dataclasses
    return dataclasses.replace(opt, **changes)


def test_export_never_overwrites_a_run_file_nor_another_runs_feature_map(root, tmp_path, capsys):
    run = _copy(root, tmp_path)
    summary = (run / "summary.json").read_bytes()
    _fails(["export", run, "--format", "stablehlo", "--out", run / "summary.json"], capsys,
           "summary.json")
    assert (run / "summary.json").read_bytes() == summary
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "feature_map.json").write_text('{"another": "run"}')
    _fails(["export", run, "--format", "stablehlo", "--out", exp / "m.bin"], capsys,
           "another run's feature map", "--overwrite")
    assert (exp / "feature_map.json").read_text() == '{"another": "run"}'


def test_predict_never_writes_over_its_input(root, tmp_path, capsys):
    data = _csv(tmp_path / "d.csv")
    before = data.read_bytes()
    _fails(["predict", root / "run", "--data", f"csv:{data}", "--out", data], capsys,
           "is the input file")
    (tmp_path / "dir.csv").mkdir()
    _fails(["predict", root / "run", "--data", f"csv:{data}", "--out", tmp_path / "dir.csv"],
           capsys, "is a folder")
    assert data.read_bytes() == before


# ------------------------------------------------------------------------------ concurrency
def test_a_second_prepare_into_the_same_folder_is_refused(root, tmp_path, capsys):
    out = tmp_path / "p"
    with open(tmp_path / ".p.lock", "w") as held:                   # another prepare holds it
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        _fails(["prepare", f"csv:{root / 'd.csv'}", *FIELDS, "--out", out], capsys,
               "another prepare is writing")
    assert not out.exists()
    from dcnmix.data.prepare.output import Output
    with Output(str(tmp_path / "a")) as one:
        assert one.fresh() != one.fresh()                         # unique working folders


# ------------------------------------------------------------------------------ stale data
def test_the_cache_key_sees_a_rewrite_with_its_mtime_set_back(tmp_path):
    data = _csv(tmp_path / "d.csv", seed=1)
    opt = PrepareOptions(kind="csv", paths=(str(data),), categorical=("user",))
    info = os.stat(data)
    key = cache_folder(opt)
    _csv(tmp_path / "other.csv", seed=2)
    os.replace(tmp_path / "other.csv", data)                      # same size, new content
    os.utime(data, ns=(info.st_atime_ns, info.st_mtime_ns))        # touch -d back
    assert os.stat(data).st_size == info.st_size and os.stat(data).st_mtime_ns == info.st_mtime_ns
    assert cache_folder(opt) != key


def test_a_flipped_id_or_a_foreign_array_is_refused_on_open(root, tmp_path, capsys):
    one = tmp_path / "one"
    shutil.copytree(root / "prep", one)
    ids = np.load(one / "train.ids.npy")
    ids[3, 0] = (ids[3, 0] + 1) % ids.max()                        # still in range
    np.save(one / "train.ids.npy", ids)
    with pytest.raises(DataError, match="train.ids.npy: contents do not match"):
        open_prepared(one)
    _fails(["prepare", "--check", one], capsys, "train.ids.npy")
    two = tmp_path / "two"
    prepare(PrepareOptions(kind="csv", paths=(str(_csv(tmp_path / "e.csv", seed=5)),),
                           categorical=("user",), numeric=("price",)), str(two))
    three = tmp_path / "three"
    shutil.copytree(root / "prep", three)
    shutil.copy(two / "valid.labels.npy", three / "valid.labels.npy")   # another folder's file
    _fails(["train", "--dataset", f"prepared:{three}", *TINY, "--out", tmp_path / "r"], capsys,
           "valid.labels.npy")
    (three / "valid.labels.npy").unlink()
    _fails(["prepare", "--check", three], capsys, "valid.labels.npy")
    assert main(["prepare", "--check", str(root / "prep")]) == 0
    assert "ok, 6 files" in capsys.readouterr().out


def test_weights_of_another_run_are_refused_by_predict_and_export(root, tmp_path, capsys):
    from dcnmix import weights
    run = _copy(root, tmp_path)
    arrays, cfg, meta = weights.load(run / "best.safetensors")
    weights.save(run / "best.safetensors", arrays, cfg, {"run_id": "0" * 32, "epoch": 1})
    _fails(["predict", run, "--data", f"csv:{root / 'd.csv'}"], capsys, "another run")
    _fails(["export", run, "--format", "stablehlo", "--out", tmp_path / "m.bin"], capsys,
           "another run")


# ------------------------------------------------------------------------------ validation
def test_order_by_refuses_a_column_that_does_not_parse_entirely(tmp_path, capsys):
    rows = [f"{i % 2},u{i % 3},{'x' if i == 7 else 1000 - i}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(["label,user,t", *rows]) + "\n")
    args = ["prepare", f"csv:{tmp_path / 't.csv'}", "--categorical", "user", "--order-by", "t"]
    _fails([*args, "--out", tmp_path / "p"], capsys, "t.csv:9:", "'x' is not a number",
           "--order-by-text")
    assert main([*args, "--order-by-text", "on", "--out", str(tmp_path / "p")]) == 0


def test_predict_never_scores_labels_prepare_refuses(root, tmp_path, capsys):
    labels = np.array([0, 1, 2, 0.5] * 100)
    data = _csv(tmp_path / "bad.csv", labels=labels)
    assert main(["predict", str(root / "run"), "--data", f"csv:{data}"]) == 0
    captured = capsys.readouterr()
    assert "AUC" not in captured.out and "labels not scored" in captured.err
    assert "bad.csv:4:" in captured.err


def test_predict_finds_the_label_after_a_byte_order_mark(root, tmp_path, capsys):
    data = _csv(tmp_path / "bom.csv", bom=True)
    assert main(["predict", str(root / "run"), "--data", f"csv:{data}"]) == 0
    assert "AUC" in capsys.readouterr().out


def test_python_predict_parses_numbers_as_the_cli_does(root):
    import polars as pl
    import dcnmix
    run = dcnmix.load_run(root / "run")
    for bad in (["abc", "1"], [float("inf"), 1.0], ["inf", "1"]):
        with pytest.raises(ValueError, match="column 'price'"):
            run.predict(pl.DataFrame({"user": ["u1", "u2"], "price": bad}))
    assert run.predict(pl.DataFrame({"user": ["u1", "u2"], "price": [None, 1.0]})).shape == (2,)


def test_bucket_keys_are_exact_for_every_float64():
    from dcnmix.data.fieldkinds import key_token, numeric_keys
    from dcnmix.data.vocab import bucketize
    values = np.array([-2.0 ** 62, -2.0 ** 62 - 2048, -2.0 ** 63, -1e300, -1.5, 0, 2, 2.5, 1e308])
    tokens = [key_token(k) for k in numeric_keys(values)]
    assert tokens == [bucketize(v) for v in values] and len(set(tokens)) == len(values)


def test_exported_graphs_give_nan_for_out_of_range_ids(root, tmp_path):
    import jax.export
    import onnxruntime
    assert main(["export", str(root / "run"), "--format", "stablehlo", "--out", str(tmp_path / "m.bin")]) == 0
    assert main(["export", str(root / "run"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    feat_dim = json.loads((root / "run" / "summary.json").read_text())["config"]["feat_dim"]
    ids = np.array([[1, 7], [feat_dim, 7], [-1, 7], [2, 8]], np.int32)
    hlo = np.asarray(jax.export.deserialize((tmp_path / "m.bin").read_bytes()).call(ids))
    onnx = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"ids": ids})[0]
    for probs in (hlo, onnx):
        assert np.isnan(probs[1:3]).all() and np.isfinite(probs[[0, 3]]).all()
    np.testing.assert_allclose(hlo[[0, 3]], onnx[[0, 3]], atol=1e-6)


def test_threads_and_counts_below_one_are_refused(root, tmp_path, capsys):
    _fails(["train", "--threads", "0", *TINY, "--out", tmp_path / "r"], capsys, "--threads")
    _fails(["predict", root / "run", "--data", f"csv:{root / 'd.csv'}", "--batch-size", "0"],
           capsys, "--batch-size")


# ------------------------------------------------------------------------------ extremes
@pytest.mark.parametrize("flags, expected", [
    (["--seed", "-1"], "seed"), (["--seed", str(2 ** 40)], "seed"),
    (["--split-seed", str(2 ** 70)], "--split-seed"),
    (["--device-data-budget", "inf"], "--device-data-budget"),
    (["--device-data-budget", "1e30"], "--device-data-budget"),
    (["--delimiter", "ab"], "--delimiter"), (["--delimiter", "\n"], "--delimiter"),
    (["--min-count", str(2 ** 70)], "--min-count"), (["--max-len", str(2 ** 40)], "--max-len"),
    (["--hash-buckets", f"user={2 ** 40}"], "--hash-buckets"),
    (["--epochs", str(2 ** 40)], "epochs"),
])
def test_flags_at_their_extremes_are_one_line_errors(root, tmp_path, capsys, flags, expected):
    _fails(["train", "--dataset", f"csv:{root / 'd.csv'}", "--categorical", "user", *TINY,
            *flags, "--out", tmp_path / "r"], capsys, expected)


def test_a_sparse_libfm_id_near_2_31_is_refused_before_any_table(tmp_path, capsys):
    (tmp_path / "s.libfm").write_text("1 1:1 2:1\n0 3:1 2147483000:1\n" * 3)
    _fails(["train", "--dataset", f"libfm:{tmp_path / 's.libfm'}", *TINY, "--out", tmp_path / "r"],
           capsys, "s.libfm:2:", "re-number")


def test_tab_escapes_are_accepted_and_a_one_column_header_gets_a_hint(root, tmp_path, capsys):
    text = (root / "d.csv").read_text()
    (tmp_path / "t.tsv").write_text(text.replace(",", "\t"))
    (tmp_path / "s.csv").write_text(text.replace(",", ";"))
    for escape in ("\\t", "tab"):
        assert main(["prepare", f"csv:{tmp_path / 't.tsv'}", *FIELDS, "--delimiter", escape,
                     "--out", str(tmp_path / "p")]) == 0
    _fails(["prepare", f"csv:{tmp_path / 's.csv'}", *FIELDS, "--out", tmp_path / "q"], capsys,
           "s.csv:1:", "no column 'label'", "--delimiter ';'")


# ------------------------------------------------------------------------------ hostile run folders
@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_run_folder_files_must_be_regular_files(root, tmp_path, capsys, kind):
    run = _copy(root, tmp_path)
    target = run / ("summary.json" if kind != "folder" else "best.safetensors")
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)                 # an open() would wait for a writer for ever
    elif kind == "device":
        target.symlink_to("/dev/zero")    # a read would never end
    else:
        target.mkdir()
    _fails(["predict", run, "--data", f"csv:{root / 'd.csv'}"], capsys, target.name,
           "folder" if kind == "folder" else "not a regular file")


@pytest.mark.parametrize("field, value, expected", [
    ("data", [1, 2], "data record"), ("data", {"spec": 3, "bogus": 1}, "data record"),
    ("run_id", 7, "run_id"), ("config", "dcn", "config"),
])
def test_odd_run_folder_fields_are_one_line_errors(root, tmp_path, capsys, field, value, expected):
    run = _copy(root, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, field: value}))
    command = ["svd", run] if field == "data" else ["predict", run, "--data", f"csv:{root / 'd.csv'}"]
    _fails(command, capsys, expected)


# ------------------------------------------------------------------------------ new users
def test_predict_creates_its_output_folder_and_keep_names_the_missing_column(root, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "p.parquet"
    assert main(["predict", str(root / "run"), "--data", f"csv:{root / 'd.csv'}", "--out", str(out),
                 "--keep", "req"]) == 0
    assert out.is_file()
    _fails(["predict", root / "run", "--data", f"csv:{root / 'd.csv'}", "--keep", "req_id"],
           capsys, "no column 'req_id'")


def test_run_folders_record_absolute_data_paths_and_old_relative_ones_resolve(root, tmp_path,
                                                                              monkeypatch, capsys):
    summary = json.loads((root / "run" / "summary.json").read_text())
    assert os.path.isabs(summary["data"]["spec"].partition(":")[2])
    project = tmp_path / "project"
    shutil.copytree(root / "prep", project / "prepared" / "p")
    run = _copy(root, project / "runs")
    summary["data"]["spec"] = "prepared:prepared/p"               # as written before
    (run / "summary.json").write_text(json.dumps(summary))
    monkeypatch.chdir(tmp_path)                                   # another working folder
    assert main(["svd", str(run)]) == 0


def test_a_missing_extra_is_one_line_naming_it(root, tmp_path, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx"
                        else real(name, *a))
    _fails(["export", root / "run", "--format", "onnx", "--out", tmp_path / "m.onnx"], capsys,
           "pip install 'dcnmix[export]'")


def test_a_folder_given_as_a_file_says_so(tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    _fails(["train", "--dataset", f"csv:{tmp_path / 'dir.csv'}", *TINY, "--out", tmp_path / "r"],
           capsys, "is a folder")
    _fails(["prepare", f"csv:{tmp_path / 'dir.csv'}", "--categorical", "a", "--out", tmp_path / "p"],
           capsys, "is a folder")


def test_a_full_disk_in_prepare_names_the_folder(root, tmp_path, capsys, monkeypatch):
    from dcnmix.data.prepare import encoding

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(encoding, "npy_writer", full)
    _fails(["prepare", f"csv:{root / 'd.csv'}", *FIELDS, "--out", tmp_path / "p"], capsys,
           f"cannot write {tmp_path / 'p'}", "No space left")


def test_the_generator_keeps_its_token_space_and_positive_rate(tmp_path):
    sys.path.insert(0, str(os.path.join(os.path.dirname(__file__), "..", "benchmarks")))
    try:
        import make_criteo_like as gen
    finally:
        sys.path.pop(0)
    small, large = gen._tokens(3, 50), gen._tokens(3, 5000)
    assert (large[:50] == small).all() and len(set(large)) == 5000
    gen.generate(20_000, str(tmp_path / "a.txt"), seed=0, progress=lambda *_: None)
    gen.generate(2_000, str(tmp_path / "b.txt"), seed=1, progress=lambda *_: None)
    import polars as pl
    a = pl.read_csv(tmp_path / "a.txt", separator="\t", has_header=False, infer_schema=False)
    b = pl.read_csv(tmp_path / "b.txt", separator="\t", has_header=False, infer_schema=False)
    assert 0.22 < a[:, 0].cast(pl.Int32).mean() < 0.30
    shared = set(b[:, 14].drop_nulls()) & set(a[:, 14].drop_nulls())   # C1: a next day's tokens
    assert len(shared) >= 0.9 * b[:, 14].drop_nulls().n_unique()
