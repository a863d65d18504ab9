"""Compile once: the persistent compilation cache in the user's cache folder (on by default,
off with a flag), and one predict shape for every split (the partial batch padded)."""
import os
import subprocess
import sys

import jax
import numpy as np

from dcnmix.backends import padded_rows, predict_in_batches
from dcnmix.config import ModelConfig, TrainConfig
from parity.checks import is_pre_bn_bias

TRAIN = ["-m", "dcnmix", "train", "--epochs", "1", "--synthetic-rows", "800", "--batch-size", "128",
         "--emb-num", "4", "--order-num", "1", "--no-progress", "--overwrite"]


def _train(tmp_path, *flags):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}  # no test-wide cache
    env.update(DCNMIX_CACHE=str(tmp_path / "cache"), XLA_FLAGS="")
    out = subprocess.run([sys.executable, *TRAIN, "--out", str(tmp_path / "run"), *flags],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]


def _cached(tmp_path) -> set:
    folder = tmp_path / "cache" / "compiled" / "jax"
    return set(os.listdir(folder)) if folder.is_dir() else set()


def test_a_second_run_compiles_nothing_new_and_off_keeps_nothing(tmp_path):
    _train(tmp_path)
    first = _cached(tmp_path)
    assert len(first) >= 3, first      # init, the train chunk, the partial batch, evaluation
    _train(tmp_path)
    assert _cached(tmp_path) == first  # every program of the second run came from the cache
    other = tmp_path / "other"
    other.mkdir()
    _train(other, "--compilation-cache", "off")
    assert not (other / "cache").exists()


def test_an_unwritable_cache_folder_is_a_warning(tmp_path):
    from dcnmix.loop import use_compilation_cache
    blocker = tmp_path / "file"
    blocker.write_text("")
    lines = []
    assert use_compilation_cache("jax", str(blocker / "sub"), log=lines.append) is None
    assert lines and "no compilation cache" in lines[0] and str(blocker) in lines[0]
    assert use_compilation_cache("torch", str(tmp_path / "t")) is None   # eager: nothing kept


def test_padded_predict_equals_the_unpadded_and_compiles_one_shape():
    from dcnmix.loop import make_trainer
    cfg = ModelConfig(field_num=10, feat_dim=72, emb_num=4, order_num=1, r=4, hidden_nums=(16,))
    trainer = make_trainer("jax", cfg, TrainConfig())
    ids = np.random.default_rng(0).integers(0, 72, (1000, 10)).astype(np.int32)
    whole = np.asarray(jax.jit(trainer.fns.predict)(trainer.state, ids), np.float64)
    calls = []
    predict = lambda batch: calls.append(len(batch)) or trainer.fns.predict(trainer.state, batch)
    for n in (1000, 700, 333):          # three remainders (1000 % 256 = 232, 700 % 256 = 188, 77)
        got = predict_in_batches(predict, ids[:n], 256, pad=True)
        np.testing.assert_allclose(got, whole[:n], rtol=1e-6, atol=1e-7)
    assert set(calls) == {256}, calls   # one shape for every split
    assert [padded_rows(r, r, 256) for r in (1, 2, 3, 100, 256)] == [1, 2, 4, 128, 256]
    assert padded_rows(5, 300, 256) == 256


def _epoch(mode: str):
    from dcnmix.data import Dataset
    from dcnmix.loop import make_trainer
    from dcnmix_jax.dispatch import Dispatch, PROBE
    cfg = ModelConfig(field_num=10, feat_dim=72, emb_num=4, order_num=1, r=4, hidden_nums=(16,))
    trainer = make_trainer("jax", cfg, TrainConfig())
    trainer.dispatch = Dispatch(mode)
    rng = np.random.default_rng(0)
    batches, size = 2 * 2 + 1 + PROBE + 3, 32         # the probe (chunk 2), then 3 more batches
    rows = batches * size + 5                           # and a partial batch
    data = Dataset(rng.integers(0, 72, (rows, 10)).astype(np.int32),
                   (rng.random(rows) < 0.3).astype(np.float32), tuple(f"f{i}" for i in range(10)),
                   (72,) * 10, 72)
    order = np.array_split(rng.permutation(rows), np.arange(size, rows, size))
    losses = [np.asarray(loss) for _, loss in trainer.train_chunks(data, order, chunk=2)]
    return trainer, np.concatenate(losses), trainer.arrays()


def test_auto_dispatch_measures_both_paths_and_trains_as_the_scan_does(monkeypatch):
    auto, auto_losses, auto_weights = _epoch("auto")
    scan, scan_losses, scan_weights = _epoch("scan")
    step, step_losses, step_weights = _epoch("step")
    info = auto.notes()["dispatch"]
    assert {"scan_ms_per_step", "step_ms_per_step"} <= set(info) and info["used"] in ("scan", "step")
    assert scan.notes()["dispatch"] == {"mode": "scan", "used": "scan"}
    assert len(auto_losses) == len(scan_losses) == len(step_losses) == 2 * 2 + 1 + 16 + 3 + 1
    for losses, weights in ((auto_losses, auto_weights), (step_losses, step_weights)):
        np.testing.assert_allclose(losses, scan_losses, rtol=1e-6)  # within float rounding
        for name, value in scan_weights.items():
            if is_pre_bn_bias(name) or name.endswith("running_mean"):
                continue    # BatchNorm cancels that bias's gradient: Adam steps on rounding noise
            np.testing.assert_allclose(weights[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    monkeypatch.setenv("DCNMIX_DISPATCH", "sideways")
    from dcnmix_jax.dispatch import Dispatch
    import pytest
    with pytest.raises(ValueError, match="DCNMIX_DISPATCH='sideways'"):
        Dispatch()
