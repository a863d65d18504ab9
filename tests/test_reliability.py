"""Reliability: fuzzed loaders, non-finite loss, unusable output, determinism, foreign checkpoints."""
import gzip
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dcnmix.data import DataError, load_criteo, load_csv, load_libfm
from dcnmix.cli import train_main as main

SMALL = ["--synthetic-rows", "3000", "--batch-size", "256", "--no-progress", "--hidden-nums", "16",
         "--emb-num", "4", "--r", "4", "--order-num", "1"]

LIBFM = b"1 0:1 5:1 9:1\r\n-1 1:1 6:1 8:1\r\n0 2:1 7:1 9:1\r\n"
CRITEO = ("\t".join(["1", "5", "-1", "", "300"] + ["7"] * 9 + ["abcd1234"] * 25 + [""]) + "\n").encode() * 3
CSV = b"y,a,b,n\n1,x,p,3\n0,y,q,\n1,x,q,10.5\n"
def _prepared(kind: str, **options):
    """dcnmix prepare of one file (every row in the training split), opened as one Dataset."""
    from dcnmix.data import Dataset
    from dcnmix.data.prepare import PrepareOptions, prepare
    from dcnmix.data.prepared import open_prepared

    def load(path):
        out = str(path) + ".prepared"
        prepare(PrepareOptions(kind=kind, paths=(str(path),), min_count=1, fractions=(1.0, 0.0, 0.0),
                               **options), out)
        parts = open_prepared(out)
        return Dataset(np.concatenate([p.ids for p in parts]), np.concatenate([p.labels for p in parts]),
                       parts[0].field_names, parts[0].cardinalities, parts[0].feat_dim)
    return load


LOADERS = {
    "libfm": (LIBFM, lambda p: load_libfm(p)),
    "prepare-criteo": (CRITEO, _prepared("criteo")),
    "prepare-csv": (CSV, _prepared("csv", label="y", categorical=("a", "b"), numeric=("n",))),
    "criteo": (CRITEO, lambda p: load_criteo(p, min_count=1)),
    "csv": (CSV, lambda p: load_csv(p, label="y", categorical=["a", "b"], numeric=["n"], min_count=1)),
}


@st.composite
def corruption(draw, data: bytes):
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "empty", "header", "gzip-cut"]))
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))], False
    if kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:], False
    if kind == "insert":
        i = draw(st.integers(0, len(data)))
        junk = draw(st.binary(min_size=1, max_size=6))
        return data[:i] + junk + data[i:], False
    if kind == "delete":
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + data[i + draw(st.integers(1, 8)):], False
    if kind == "empty":
        return b"", False
    if kind == "header":
        return data.split(b"\n", 1)[0] + b"\n", False
    gz = gzip.compress(data)
    return gz[: draw(st.integers(0, len(gz) - 1))], True


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_fuzzed_files_load_or_raise_the_loaders_error(tmp_path, name):
    data, load = LOADERS[name]
    path = tmp_path / f"fuzz.{name}"

    @settings(max_examples=int(os.environ.get("DCNMIX_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(corruption(data))
    def check(case):
        content, _ = case
        path.write_bytes(content)
        try:
            ds = load(path)
        except DataError as exc:
            assert str(path) in str(exc)
            return
        # loaded: every row of the file is there, nothing silently dropped
        text = content.decode("utf-8") if content[:2] != b"\x1f\x8b" else gzip.decompress(content).decode()
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        expected = len(lines) - (1 if name.endswith("csv") else 0)
        assert len(ds) == expected
        assert np.isin(ds.labels, (0.0, 1.0)).all() and (ds.ids >= 0).all()

    check()


def test_non_finite_loss_names_step_epoch_and_checkpoint(tmp_path, capsys):
    assert main([*SMALL, "--lr", "1e30", "--epochs", "3", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "non-finite training loss at step" in err and "epoch" in err and "checkpoint" in err
    failed = json.loads((tmp_path / "x" / "failed.json").read_text())   # `dcnmix runs`: diverged
    assert failed["status"] == "diverged" and failed["error"] in err and failed["epochs_done"] == 0


def test_unwritable_output_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main([*SMALL, "--epochs", "1", "--out", str(blocker / "run")]) == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_same_seed_gives_bit_identical_runs(tmp_path, framework):
    outs = []
    for name in ("a", "b"):
        out = str(tmp_path / name)
        assert main([*SMALL, "--epochs", "2", "--framework", framework, "--out", out]) == 0
        outs.append(out)
    rows = [[{k: v for k, v in json.loads(l).items() if k not in ("seconds", "examples_per_s")}
             for l in open(os.path.join(o, "metrics.jsonl"))] for o in outs]
    assert rows[0] == rows[1]
    from dcnmix.weights import load
    a, _, _ = load(os.path.join(outs[0], "best.safetensors"))
    b, _, _ = load(os.path.join(outs[1], "best.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main([*SMALL, "--epochs", "1", "--out", out]) == 0
    assert main([*SMALL, "--epochs", "2", "--order-num", "2", "--out", out, "--resume"]) == 2
    assert "checkpoint is for another run" in capsys.readouterr().err


def test_out_of_range_ids_are_refused_not_clamped():
    import jax
    from dcnmix_jax import DCN, checked_apply
    model = DCN(field_num=3, feat_dim=10, emb_num=2, order_num=1, hidden_nums=(4,))
    ids = np.array([[0, 1, 2], [3, 4, 12]], np.int32)
    variables = model.init(jax.random.key(0), ids[:1])
    silent = np.asarray(model.apply(variables, ids))  # plain JAX raises nothing (clamps or NaN-fills)
    assert silent.shape == (2,)
    with pytest.raises(ValueError, match=r"feature id 12 in field '#2' \(column 2, row 1\)"):
        checked_apply(model, variables, ids)
    assert checked_apply(model, variables, ids[:1]).shape == (1,)


def test_full_disk_fails_before_training(tmp_path, monkeypatch, capsys):
    import errno
    import dcnmix.run as train

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(train.os, "fsync", no_space)  # the pre-flight probe cannot be flushed
    out = tmp_path / "full"
    assert main([*SMALL, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not writable: No space left on device" in err  # refused by the pre-flight probe
    assert not (out / "metrics.jsonl").exists() and not (out / "init.safetensors").exists()


def test_csv_header_with_a_bare_carriage_return_is_a_data_error(tmp_path):
    """Found by the fuzz test: csv.Error from the header line escaped as itself."""
    from dcnmix.data import load_csv
    path = tmp_path / "bad.csv"
    path.write_bytes(b"label,a\rb\n1,x\n")
    with pytest.raises(DataError, match="bad CSV"):
        load_csv(path, categorical=["a"])


def test_the_progress_bar_counts_every_epoch_as_it_computes(tmp_path, monkeypatch):
    """JAX dispatches ahead of the device: the bar moves when a chunk's losses exist,
    in every epoch (it used to reach 100% at dispatch after the first epoch)."""
    import tqdm
    from dcnmix import DataSpec, TrainConfig, train
    from dcnmix_jax.trainer import JaxTrainer
    yielded, updates = [], []
    chunks = JaxTrainer.train_chunks

    def recording(self, dataset, order, chunk=64):
        for rows, losses in chunks(self, dataset, order, chunk=2):
            yielded.append(losses)
            yield rows, losses

    class Bar:
        def __init__(self, total, desc, **_):
            self.desc = desc

        def update(self, rows):
            updates.append((self.desc, rows, yielded[len(updates)].is_ready()))

        def close(self):
            pass

    monkeypatch.setattr(JaxTrainer, "train_chunks", recording)
    monkeypatch.setattr(tqdm, "tqdm", Bar)
    train({"hidden_nums": (8,), "emb_num": 4, "r": 4, "order_num": 1},
          DataSpec(spec="synthetic", synthetic_rows=5000),
          out=str(tmp_path / "r"), train_config=TrainConfig(epochs=3, batch_size=256),
          progress=True, log=lambda *_: None)
    epochs = {}
    for desc, rows, ready in updates:
        assert ready                                # counted once computed
        epochs[desc] = epochs.get(desc, 0) + rows
    assert epochs == {f"epoch {e}": 4000 for e in (1, 2, 3)}
