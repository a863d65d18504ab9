"""Scale-out (dcnmix_jax.sharding): 8 simulated devices and 2 processes reproduce one device.

Each run is a subprocess, since the device count is fixed when jax starts. Exactness is
checked in float64: in float32 the reduction order of the sharded sums changes rounding, and
Adam turns rounding in the near-zero gradients of the biases before BatchNorm into steps of
about lr (the same effect as in the parity suite's float32 training rows).
"""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from dcnmix_jax.sharding import parse_mesh

WORKER = os.path.join(os.path.dirname(__file__), "sharded_worker.py")


def _env(devices: int, x64: bool) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    if x64:
        env["JAX_ENABLE_X64"] = "1"
    return env


def _run(tmp_path, name, devices=1, args=(), x64=True):
    out = str(tmp_path / f"{name}.npz")
    dtype = ["--dtype", "float64"] if x64 else []
    subprocess.run([sys.executable, WORKER, out, *dtype, *args], env=_env(devices, x64),
                   check=True, capture_output=True, timeout=600)
    return dict(np.load(out))


def _assert_same(a, b, tol):
    assert np.abs(a["losses"] - b["losses"]).max() < tol
    assert np.abs(a["probs"] - b["probs"]).max() < tol
    assert abs(float(a["auc"]) - float(b["auc"])) < tol
    weights = [k for k in a if k.startswith("w:")]
    assert weights and all(a[k].shape == b[k].shape for k in weights)
    worst = max(np.abs(a[k] - b[k]).max() for k in weights)
    assert worst < tol, worst


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    """The single-device float64 run (dense Adam) the mesh and multi-process runs must equal."""
    return _run(tmp_path_factory.mktemp("one"), "one")


@pytest.mark.parametrize("optimizer", ["dense", "lazy"])
def test_eight_devices_equal_one(tmp_path, optimizer, one_device):
    """Dense Adam on both meshes; lazy Adam on 1x8, where its row updates are split most."""
    one = one_device if optimizer == "dense" else _run(tmp_path, "one", args=["--optimizer", optimizer])
    for mesh in ("4x2", "1x8") if optimizer == "dense" else ("1x8",):
        many = _run(tmp_path, mesh, devices=8, args=["--mesh", mesh, "--optimizer", optimizer])
        _assert_same(one, many, 1e-5)
        data, model = parse_mesh(mesh)
        rows = -(-75 // model) * model       # 75 ids padded to equal shards
        assert tuple(many["table_shape"]) == (rows, 8)
        assert len(many["shard_shapes"]) == 8
        assert {tuple(s) for s in many["shard_shapes"]} == {(rows // model, 8)}
    # the untouched padding is dropped from the exported weights
    assert one["w:embedding.embedding.weight"].shape == (75, 8)


def test_float32_mesh_matches_loss_and_auc(tmp_path):
    one = _run(tmp_path, "one32", x64=False)
    many = _run(tmp_path, "many32", devices=8, args=["--mesh", "4x2"], x64=False)
    assert np.abs(one["losses"] - many["losses"]).max() < 1e-5
    assert abs(float(one["auc"]) - float(many["auc"])) < 2e-3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_stream_disjoint_shards(tmp_path, one_device):
    """jax.distributed over localhost (gloo CPU collectives), 4 devices per process, the table
    row-sharded across both processes, streaming: each process gathers only its half of every
    batch from the host data (the first chunk's rows of the two are disjoint and together the
    whole chunk), and training equals one device with the data on it. (Resident data over
    two processes: test_docs_multi_process_block_runs.)"""
    coordinator = f"127.0.0.1:{_free_port()}"
    out = str(tmp_path / "stream.npz")
    procs = [subprocess.Popen([sys.executable, WORKER, out, "--dtype", "float64", "--mesh", "2x4",
                               "--coordinator", coordinator, "--num-processes", "2", "--stream",
                               "--process-id", str(i)], env=_env(4, True),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(2)]
    logs = [p.communicate(timeout=600)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(x[-3000:] for x in logs)
    first = [set(np.load(f"{out}.rows{i}.npy")[0].tolist()) for i in range(2)]
    assert first[0] and first[1] and not first[0] & first[1]
    assert len(first[0]) == len(first[1]) == 4 * 256 // 2          # chunk of 4 batches of 256
    two = dict(np.load(out))
    assert len(two["shard_shapes"]) == 4             # process 0 holds half of the shards
    _assert_same(one_device, two, 1e-5)


def test_cli_mesh_flag_errors():
    from dcnmix.cli import train_main as main
    assert main(["--mesh", "3x", "--epochs", "1"]) == 2
    assert main(["--mesh", "4x2", "--epochs", "1"]) == 2        # 1 device here
    assert main(["--mesh", "1", "--framework", "torch", "--epochs", "1"]) == 2


def test_docs_multi_process_block_runs(tmp_path):
    """docs/scale-out.md's two-process command, as written (port, output folder and run length
    swapped for a free port, a temporary folder and one short epoch)."""
    import json
    import re
    from conftest import ROOT
    block = re.search(r"```bash multi-process\n(.*?)```", (ROOT / "docs" / "scale-out.md").read_text(), re.S)
    script = (block.group(1)
              .replace("dcnmix train", f"{sys.executable} -m dcnmix train --epochs 1 "
                       "--synthetic-rows 4000 --no-progress")
              .replace("127.0.0.1:9911", f"127.0.0.1:{_free_port()}")
              .replace("runs/two", str(tmp_path / "two")))
    proc = subprocess.run(["bash", "-c", "set -e\n" + script], env=_env(1, False),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    first = json.loads((tmp_path / "two" / "summary.json").read_text())
    second = json.loads((tmp_path / "two" / "process-1" / "summary.json").read_text())
    assert first["test_auc"] == second["test_auc"] and first["epochs_run"] == 1


def test_resume_on_another_mesh(tmp_path, one_device):
    """A state saved on a 1x8 mesh (table padded to 80 rows; saved at its true 75, as on one
    device) resumes on one device and on 4x2 (padded to 76): both finish as an uninterrupted
    single-device run."""
    full = one_device
    state = str(tmp_path / "state.msgpack")
    _run(tmp_path, "first", devices=8, args=["--mesh", "1x8", "--epochs", "1", "--state-out", state])
    for second in ((), ("--mesh", "4x2")):
        resumed = _run(tmp_path, "second", devices=8, args=[*second, "--state-in", state])
        for key in [k for k in full if k.startswith("w:")] + ["probs"]:
            assert np.abs(full[key] - resumed[key]).max() < 1e-5, key
