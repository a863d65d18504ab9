"""Experiments: per-step loss and TensorBoard logging, `dcnmix sweep` (the seed's grid in both
frameworks, resumable), `dcnmix tune` (a study that resumes after a kill -9)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import missing
from dcnmix.cli import main
from dcnmix.run import read_metrics

TINY = ["--synthetic-rows", "1500", "--batch-size", "128", "--no-progress"]
SMALL_MODEL = ["--hidden-nums", "16", "--emb-num", "4", "--r", "4", "--order-num", "1"]


def needed(module: str, reason: str):
    """An optional library the test needs: imported, else conftest.missing (fails in CI)."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(reason)


def test_log_every_and_tensorboard_events_read_by_tensorboard(tmp_path):
    event_accumulator = needed("tensorboard.backend.event_processing.event_accumulator",
                               "tensorboard (its event reader) is not installed: pip install "
                               "'dcnmix[dev]'")
    out, board = tmp_path / "run", tmp_path / "tb"
    assert main(["train", *TINY, *SMALL_MODEL, "--epochs", "2", "--log-every", "3",
                 "--tensorboard", str(board), "--out", str(out)]) == 0
    epochs, steps = read_metrics(str(out / "metrics.jsonl"))
    per_epoch = 1200 // 128            # 1,200 training rows: 9 full batches and one of 48
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert [s["step"] for s in steps] == [3, 6, 9, 10, 13, 16, 19, 20]
    assert all(0 < s["train_loss"] < 5 for s in steps) and per_epoch + 1 == 10
    events = event_accumulator.EventAccumulator(str(board))
    events.Reload()
    assert {"train/loss", "val/auc", "val/logloss", "lr", "train/step_loss"} <= set(events.Tags()["scalars"])
    auc = events.Scalars("val/auc")
    assert [e.step for e in auc] == [1, 2]
    assert [round(e.value, 5) for e in auc] == [round(r["val_auc"], 5) for r in epochs]
    assert [e.step for e in events.Scalars("train/step_loss")] == [s["step"] for s in steps]


def test_a_missing_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)     # as if not installed
    assert main(["train", *TINY, "--tensorboard", str(tmp_path / "tb"), "--out",
                 str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --tensorboard needs the Python package 'tensorboardX', which is not installed: "
        "pip install 'dcnmix[tensorboard]'")
    assert not (tmp_path / "r").exists()


def test_sweep_makes_the_seed_grid_table_in_both_frameworks_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", *TINY, "--epochs", "1", "--grid", "order_num=1,3", "method=parallel,stacked",
            "--frameworks", "jax,torch", "--out", str(out)]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "runs.csv")))
    assert len(rows) == 8 and {r["framework"] for r in rows} == {"jax", "torch"}
    params = {(r["framework"], r["method"], r["order_num"]): int(r["params"]) for r in rows}
    for fw in ("jax", "torch"):           # the seed's counts: DCN-Mix parallel-1, stacked-3
        assert params[(fw, "parallel", "1")] == 54_501 and params[(fw, "stacked", "3")] == 97_869
    for r in rows:
        summary = json.loads((out / "runs" / f"{r['framework']}-{r['cell']}-s0" / "summary.json").read_text())
        assert float(r["test_auc"]) == summary["test_auc"]
        assert summary["config"]["order_num"] == int(r["order_num"])
    table = (out / "table.md").read_text()
    assert "| jax | 1 | parallel | 54,501 | 1 |" in table and "| torch | 3 | stacked | 97,869 | 1 |" in table
    first = capsys.readouterr().out
    assert main(argv) == 0                 # every cell finished: nothing trains again
    again = capsys.readouterr().out
    assert again.count("(done before)") == 8 and (out / "table.md").read_text() == table
    assert first.count("seed 0: val AUC") == 8
    assert main(["sweep", *TINY, "--grid", "order_num=one", "--out", str(out)]) == 2
    assert "--grid order_num=one: 'one' is not a value of --order-num" in capsys.readouterr().err
    assert main(["sweep", *TINY, "--grid", "dataset=x", "--out", str(out)]) == 2
    assert "'dataset' is not an option of a run" in capsys.readouterr().err
    assert main(["sweep", *TINY, "--grid", "r=2", "--log-every", "-1", "--out", str(out)]) == 2
    assert "--log-every must be >= 0" in capsys.readouterr().err


def test_tune_resumes_its_study_after_kill_9(tmp_path):
    needed("optuna", "optuna is not installed: pip install 'dcnmix[tune]'")
    out = tmp_path / "tune"
    argv = [sys.executable, "-m", "dcnmix", "tune", "--synthetic-rows", "3000", "--epochs", "30",
            "--patience", "30", "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(argv + ["--trials", "3"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    record = out / "trials" / "trial-0000" / "checkpoint" / "run.json"
    deadline = time.time() + 240
    while not record.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, first.stderr.read().decode()
    first.send_signal(signal.SIGKILL)            # mid trial 0, after at least one epoch
    first.wait()
    cut_at = len(json.loads(record.read_text())["history"])
    done = subprocess.run(argv + ["--trials", "2", "--epochs", "4", "--patience", "30"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "another search space or base options" in done.stderr
    done = subprocess.run(argv + ["--trials", "2"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    trials = list(csv.DictReader(open(out / "trials.csv")))
    assert [t["state"] for t in trials] == ["fail", "complete", "complete"]
    assert trials[1]["continues"] == "0" and trials[1]["folder"] == trials[0]["folder"]
    assert {k: v for k, v in trials[1].items() if k in ("lr", "dropout", "order_num")} == \
        {k: v for k, v in trials[0].items() if k in ("lr", "dropout", "order_num")}
    epochs, _ = read_metrics(os.path.join(trials[0]["folder"], "metrics.jsonl"))
    assert [r["epoch"] for r in epochs] == list(range(1, 31)) and cut_at >= 1   # one history
    best = json.loads((out / "best" / "summary.json").read_text())
    chosen = max(trials[1:], key=lambda t: float(t["val_auc"]))
    assert best["val_auc"] == pytest.approx(float(chosen["val_auc"]))
    assert 0 < best["test_auc"] < 1
    assert "best: trial" in done.stdout


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    """Four runs under one folder: two finished (lr 1e-3 and 3e-3, the second with per-step
    losses), one diverged (lr 1e30), one interrupted (its checkpoint but no summary, as a
    kill leaves it)."""
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("slow", ["--lr", "0.001"]), ("fast", ["--lr", "0.003", "--log-every", "4"]),
                        ("cut", ["--lr", "0.002"])):
        assert main(["train", *TINY, *SMALL_MODEL, "--epochs", "3", *extra,
                     "--out", str(root / "group" / name)]) == 0
    (root / "group" / "cut" / "summary.json").unlink()
    assert main(["train", *TINY, *SMALL_MODEL, "--lr", "1e30", "--out", str(root / "div")]) == 2
    return root


def test_runs_lists_every_run_with_status_and_test_auc(run_folders, capsys):
    assert main(["runs", str(run_folders), "--format", "json"]) == 0
    rows = {os.path.basename(r["run"]): r for r in json.loads(capsys.readouterr().out)}
    assert {n: r["status"] for n, r in rows.items()} == {
        "slow": "finished", "fast": "finished", "cut": "interrupted", "div": "diverged"}
    for name in ("slow", "fast"):
        summary = json.loads((run_folders / "group" / name / "summary.json").read_text())
        assert rows[name]["test_auc"] == summary["test_auc"] and rows[name]["params"] == 2_637
        assert rows[name]["model"] == "DCN-Mix-parallel-1" and rows[name]["epochs"] == 3
    assert rows["cut"]["test_auc"] is None and rows["cut"]["val_auc"] > 0
    assert rows["cut"]["epochs"] == 3 and rows["cut"]["best_epoch"] >= 1
    assert "non-finite training loss" in rows["div"]["error"] and rows["div"]["framework"] == "jax"
    assert rows["fast"]["options"] == "lr=0.003" and rows["div"]["options"] == "lr=1e+30"
    assert main(["runs", str(run_folders / "group"), "--sort", "test_auc", "--format", "csv"]) == 0
    ordered = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    aucs = [float(r["test_auc"]) for r in ordered if r["test_auc"]]
    assert aucs == sorted(aucs, reverse=True) and ordered[-1]["status"] == "interrupted"
    assert main(["runs", str(run_folders)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "model", "options"] and len(table) == 1 + 4 + 1
    assert table[-1].startswith(str(run_folders / "div") + ": non-finite")
    assert main(["runs", str(run_folders), "--format", "md"]) == 0
    assert capsys.readouterr().out.count("\n| ") == 5
    assert main(["runs", str(run_folders), "--sort", "auc"]) == 2
    assert "--sort auc: not a column" in capsys.readouterr().err
    assert main(["runs", str(run_folders / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_plot_writes_a_png_with_a_curve_per_run(run_folders, tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "curves.png"
    assert main(["plot", str(run_folders / "group" / "slow"), str(run_folders / "group" / "fast"),
                 "--steps", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1800, 576)   # 15 x 4.8 in at 120 dpi
        colours = {c for _, c in image.convert("RGB").getcolors(1 << 20)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours     # a line per run (C0, C1)
    assert "2 runs ->" in capsys.readouterr().out
    assert main(["plot", str(run_folders), "--out", str(tmp_path / "all.png")]) == 0
    assert "(1 without an epoch left out)" in capsys.readouterr().out    # the diverged run
    assert main(["plot", str(run_folders / "div"), "--out", str(tmp_path / "x.png")]) == 2
    assert "no run has a finished epoch" in capsys.readouterr().err
    assert main(["plot", str(run_folders), "--out", str(tmp_path / "x.txt")]) == 2
    assert "name an image file" in capsys.readouterr().err


def test_recipe_sets_training_options_under_the_flags_given():
    from dcnmix.cli import train_config
    from dcnmix.config import ConfigError, TrainConfig
    from dcnmix.experiments.options import train_parser
    parse = train_parser().parse_args
    assert train_config(parse([])) == TrainConfig()                  # the seed's defaults
    recommended = train_config(parse(["--recipe", "recommended"]))
    assert (recommended.emb_weight_decay, recommended.lr_decay, recommended.patience) == (0.05, 0.1, 3)
    given = train_config(parse(["--recipe", "recommended", "--patience", "7", "--lr", "0.01"]))
    assert (given.patience, given.lr, given.emb_weight_decay) == (7, 0.01, 0.05)
    assert train_config(parse(["--patience", "4"])).patience == 4
    assert TrainConfig.recipe("recommended", epochs=5) == TrainConfig(
        epochs=5, emb_weight_decay=0.05, lr_decay=0.1, patience=3)
    with pytest.raises(ConfigError, match="unknown recipe 'best'"):
        TrainConfig.recipe("best")
