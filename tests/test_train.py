"""The training CLI: datasets, outputs, early stopping, both frameworks, kill -9 and resume."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dcnmix.cli import train_main as main

SMALL = ["--synthetic-rows", "4000", "--batch-size", "256", "--no-progress", "--hidden-nums", "32,16",
         "--emb-num", "4", "--r", "4", "--order-num", "1"]


def _summary(out):
    with open(os.path.join(out, "summary.json")) as fh:
        return json.load(fh)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_trains_writes_outputs_and_stops_early(tmp_path, framework):
    out = str(tmp_path / framework)
    assert main([*SMALL, "--epochs", "30", "--patience", "2", "--lr", "0.05", "--out", out,
                 "--framework", framework]) == 0
    s = _summary(out)
    assert s["epochs_run"] < 30 and s["epochs_run"] - s["best_epoch"] == 2  # early stopping
    assert 0.5 < s["test_auc"] <= 1 and s["params"] > 0
    lines = open(os.path.join(out, "metrics.jsonl")).read().splitlines()
    assert len(lines) == s["epochs_run"]
    assert max(json.loads(x)["val_auc"] for x in lines) == s["val_auc"]
    from parity.files import load_for_jax
    variables, cfg = load_for_jax(os.path.join(out, "best.safetensors"))
    assert cfg.field_num == 10 and cfg.hidden_nums == (32, 16)


def test_dataset_kinds(tmp_path, frappe_dir, criteo_dir):
    base = [*SMALL, "--epochs", "1"]
    assert main([*base, "--dataset", f"criteo:{criteo_dir / 'criteo_sample_1k.txt.gz'}",
                 "--out", str(tmp_path / "c")]) == 0
    assert _summary(tmp_path / "c")["config"]["field_num"] == 39
    csv = tmp_path / "d.csv"
    csv.write_text("y,a,b\n" + "".join(f"{i % 2},{i % 7},{i % 3}\n" for i in range(300)))
    assert main([*base, "--dataset", f"csv:{csv}", "--label", "y", "--categorical", "a,b",
                 "--out", str(tmp_path / "csv")]) == 0
    libfm = tmp_path / "d.libfm"
    libfm.write_text("".join(f"{(i % 2) * 2 - 1} {i % 5}:1 {5 + i % 3}:1\n" for i in range(300)))
    assert main([*base, "--dataset", f"libfm:{libfm}", "--out", str(tmp_path / "l")]) == 0
    assert main([*base, "--dataset", f"frappe:{frappe_dir}", "--batch-size", "4096",
                 "--out", str(tmp_path / "f")]) == 0
    assert _summary(tmp_path / "f")["rows"] == {"train": 202027, "valid": 57722, "test": 28860}


def test_user_mistakes_are_one_line_errors(tmp_path, capsys):
    assert main(["--dataset", "nope", "--out", str(tmp_path / "x")]) == 2
    assert main(["--dataset", f"libfm:{tmp_path / 'missing'}", "--out", str(tmp_path / "x")]) == 2
    assert main(["--dataset", "synthetic", "--method", "stacked", "--hidden-nums", "0",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'nope'" in err and "no such file" in err and "Traceback" not in err


def _cli(out, epochs):
    return [sys.executable, "-m", "dcnmix_jax.train", *SMALL, "--epochs", str(epochs),
            "--patience", "100", "--out", out]


EPOCHS = 20


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    full = str(tmp_path / "full")
    # enough epochs that the kill lands mid-run even on an idle machine (with 5, a run once
    # finished between the poll and the kill)
    subprocess.run(_cli(full, EPOCHS), check=True, capture_output=True)
    cut = str(tmp_path / "cut")
    proc = subprocess.Popen(_cli(cut, EPOCHS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = os.path.join(cut, "metrics.jsonl")
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and len(open(metrics).read().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(open(metrics).read().splitlines())
    assert 2 <= done < EPOCHS
    subprocess.run(_cli(cut, EPOCHS) + ["--resume"], check=True, capture_output=True)
    a, b = _summary(full), _summary(cut)
    for key in ("val_auc", "val_logloss", "test_auc", "test_logloss", "best_epoch", "epochs_run"):
        assert a[key] == b[key], key
    strip = lambda path: [{k: v for k, v in json.loads(x).items() if k not in ("seconds", "examples_per_s")}
                          for x in open(path).read().splitlines()]
    assert strip(os.path.join(full, "metrics.jsonl")) == strip(metrics)


@pytest.mark.parametrize("cross", ["mix", "full"])
def test_svd_analysis_of_a_run(tmp_path, cross):
    from dcnmix.cli import svd_main
    out = str(tmp_path / cross)
    assert main([*SMALL, "--epochs", "2", "--cross", cross, "--out", out]) == 0
    assert svd_main([out, "--dataset", "synthetic", "--rows", "500"]) == 0
    rows = open(os.path.join(out, "svd.csv")).read().splitlines()
    curves = {r.split(",")[0] for r in rows[1:]}
    want = {"init W", "learned W"} if cross == "full" else {"init gated mixture", "learned expert 3"}
    assert want <= curves
    values = [float(r.split(",")[2]) for r in rows[1:]]
    assert max(values) == 1.0 and min(values) == 0.0
    assert os.path.getsize(os.path.join(out, "svd.png")) > 1000


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_lr_decay_on_plateau_follows_validation_auc(tmp_path, framework):
    out = str(tmp_path / framework)
    assert main([*SMALL, "--epochs", "8", "--patience", "100", "--lr", "0.05", "--lr-decay", "0.5",
                 "--framework", framework, "--out", out]) == 0
    rows = [json.loads(x) for x in open(os.path.join(out, "metrics.jsonl")).read().splitlines()]
    best, expected = -1.0, 0.05
    for row in rows:
        assert row["lr"] == pytest.approx(expected)
        if row["val_auc"] > best:
            best = row["val_auc"]
        else:
            expected *= 0.5
    assert any(r["lr"] < 0.05 for r in rows[1:]) or all(
        b["val_auc"] > a["val_auc"] for a, b in zip(rows, rows[1:]))
