"""One owner per run folder, and every file a run reads back verified: concurrent trainers,
folders holding a run, foreign weights, and single-byte flips in each file kind."""
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from dcnmix.cli import train_main as main
from dcnmix.data.errors import DataError
from dcnmix.data.featuremap import FeatureMap
from dcnmix.run import RunError, RunFolder
from dcnmix.weights import WeightsError, load

SMALL = ["--synthetic-rows", "3000", "--batch-size", "256", "--no-progress", "--hidden-nums", "16",
         "--emb-num", "4", "--r", "4", "--order-num", "1"]
FLIPS = 200


def test_a_second_trainer_is_refused_and_the_first_finishes_intact(tmp_path, capsys):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "dcnmix", "train", *SMALL, "--epochs", "15",
                              "--patience", "100", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "init.safetensors").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert main([*SMALL, "--epochs", "1", "--out", str(out), "--resume"]) == 2
    assert "another trainer" in capsys.readouterr().err
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs_run"] == 15
    load(out / "best.safetensors")                       # intact and verified


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main([*SMALL, "--epochs", "1", "--out", out]) == 0
    before = (tmp_path / "run" / "summary.json").read_text()
    assert main([*SMALL, "--epochs", "1", "--seed", "3", "--out", out]) == 2
    assert "holds a run already" in capsys.readouterr().err
    assert (tmp_path / "run" / "summary.json").read_text() == before      # untouched
    assert main([*SMALL, "--epochs", "1", "--seed", "3", "--out", out, "--overwrite"]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["train"]["seed"] == 3


def test_foreign_best_weights_are_refused(tmp_path):
    for name in ("a", "b"):
        assert main([*SMALL, "--epochs", "1", "--out", str(tmp_path / name)]) == 0
    shutil.copyfile(tmp_path / "b" / "best.safetensors", tmp_path / "a" / "best.safetensors")
    folder = RunFolder(tmp_path / "a")
    run_id = json.loads((tmp_path / "a" / "summary.json").read_text())["run_id"]
    with pytest.raises(WeightsError, match="written by another run"):
        folder.load_weights("best.safetensors", run_id=run_id)


def _flips(path, check, errors):
    """Flip one byte at FLIPS positions spread over the file; each must be refused."""
    data = path.read_bytes()
    positions = np.unique(np.linspace(0, len(data) - 1, FLIPS).astype(int))
    accepted = []
    for i in positions:
        bad = bytearray(data)
        bad[i] ^= 0x01 if i % 2 else 0x20
        path.write_bytes(bytes(bad))
        try:
            check()
        except errors:
            continue
        accepted.append(int(i))
    path.write_bytes(data)
    check()                                             # the original still reads
    assert not accepted, f"{path.name}: flips accepted at {accepted[:10]}"
    return len(positions)


def test_every_file_a_run_reads_back_refuses_single_byte_flips(tmp_path, criteo_dir):
    out = tmp_path / "run"
    src = str(criteo_dir / "criteo_sample_1k.txt.gz")
    assert main([*SMALL, "--dataset", f"criteo:{src}", "--epochs", "2", "--out", str(out)]) == 0
    folder = RunFolder(out)
    record = json.loads((out / "checkpoint" / "run.json").read_text())
    identity = record["identity"]
    state = out / "checkpoint" / record["state"]
    counts = {
        "state": _flips(state, lambda: folder.read_checkpoint(identity), RunError),
        "run.json": _flips(out / "checkpoint" / "run.json", lambda: folder.read_checkpoint(identity),
                           RunError),
        "weights": _flips(out / "best.safetensors", lambda: load(out / "best.safetensors"), WeightsError),
        "feature map": _flips(out / "feature_map.json",
                              lambda: FeatureMap.load(out / "feature_map.json"), DataError),
    }
    assert all(n >= FLIPS - 5 for n in counts.values()), counts


# ---------------------------------------------------------------- training guards
def _splits(train_rows: int, valid_labels=None):
    from dcnmix.data import Dataset, synthetic
    data = synthetic(n=train_rows + 400, seed=0)
    parts = [data.take(slice(0, train_rows)), data.take(slice(train_rows, train_rows + 200)),
             data.take(slice(train_rows + 200, None))]
    if valid_labels is not None:
        v = parts[1]
        parts[1] = Dataset(v.ids, np.full(len(v), valid_labels, np.float32), v.field_names,
                           v.cardinalities, v.feat_dim)
    return tuple(parts)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_a_final_batch_of_one_row_is_left_out_in_both_frameworks(tmp_path, framework):
    import dcnmix
    from dcnmix.config import TrainConfig
    summary, _ = dcnmix.train({"emb_num": 4, "order_num": 1, "hidden_nums": (8,), "r": 4},
                              _splits(513), out=str(tmp_path / framework), framework=framework,
                              progress=False, log=lambda *_: None,
                              train_config=TrainConfig(epochs=2, batch_size=256))
    assert summary["epochs_run"] == 2


def test_degenerate_splits_are_refused_before_training(tmp_path):
    import dcnmix
    from dcnmix.loop import TrainingError
    with pytest.raises(TrainingError, match="validation split has only label 1"):
        dcnmix.train({"emb_num": 4, "order_num": 1}, _splits(600, valid_labels=1.0),
                     out=str(tmp_path / "x"), progress=False, log=lambda *_: None)
    assert not (tmp_path / "x").exists()


def test_divergence_stops_training_with_the_last_good_checkpoint():
    from dcnmix.config import TrainConfig
    from dcnmix.loop import TrainingError, check_divergence
    from dcnmix.run import Progress
    progress = Progress(history=[{"train_loss": 0.7}])
    check_divergence(progress, 60.0, TrainConfig(), "ckpt")                 # 86x: goes on
    with pytest.raises(TrainingError, match=r"diverged at epoch 2: mean loss 7e\+15 > 100 x"):
        check_divergence(progress, 7e15, TrainConfig(), "ckpt (after epoch 1)")
    check_divergence(progress, 7e15, TrainConfig(divergence=0), "ckpt")      # off
    with pytest.raises(ValueError, match="divergence"):
        TrainConfig(divergence=-1)
