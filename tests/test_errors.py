"""Every documented failure, through each CLI: one line on stderr, exit code 2, no traceback
(an exception escaping `main` fails the test). The cases are the hostile-user walk of
issue 17: bad data, broken run folders, foreign or malicious files, wrong arguments."""
import json
import os

import numpy as np
import pytest

from dcnmix.cli import main
from dcnmix.run import _digest

TINY = ["--batch-size", "128", "--no-progress", "--hidden-nums", "8", "--emb-num", "4",
        "--r", "4", "--order-num", "1"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Files for the walk: a CSV and the runs trained on it, one per framework, and bad inputs."""
    d = tmp_path_factory.mktemp("errors")
    rng = np.random.default_rng(0)
    rows = [f"{y},u{u},i{i}" for y, u, i in zip(rng.integers(0, 2, 600), rng.integers(0, 9, 600),
                                                 rng.integers(0, 7, 600))]
    (d / "d.csv").write_text("\n".join(["label,user,item", *rows]) + "\n")
    (d / "twice.csv").write_text("label,user,user\n1,a,b\n0,b,c\n")
    (d / "big.libfm").write_text("1 1:1 2:1\n0 4294967297:1 2:1\n")
    (d / "digits.libfm").write_text("1 1:1 2:1\n0 1_0:1 2:1\n")
    (d / "bad.criteo").write_text("1\t2\n")
    for fw in ("jax", "torch"):
        assert main(["train", "--dataset", f"csv:{d / 'd.csv'}", "--categorical", "user,item",
                     "--epochs", "1", "--framework", fw, *TINY, "--out", str(d / fw)]) == 0
    import torch
    from dcnmix.layout import arrays_to_flax  # noqa: F401  (the run's weights load below)
    from dcnmix.weights import load
    arrays, _, _ = load(d / "torch" / "best.safetensors")
    sd = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    torch.save({"model": sd}, d / "nested.pt")
    torch.save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in sd.items()},
               d / "bf16.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {d / 'PWNED'}",))
    torch.save({"x": Evil()}, d / "evil.pt")
    return d


def _copy_run(root, fw, tmp_path):
    import shutil
    out = tmp_path / fw
    shutil.copytree(root / fw, out)
    return out


def _rewrite_run_json(run, change):
    """Edit run.json as a tool would, with a valid digest: only the content is wrong."""
    path = run / "checkpoint" / "run.json"
    record = json.loads(path.read_text())
    record.pop("sha256")
    change(record)
    path.write_text(json.dumps({**record, "sha256": _digest(record)}, indent=2, sort_keys=True) + "\n")
    return record


def _replace_state(run, data: bytes):
    import hashlib
    record = json.loads((run / "checkpoint" / "run.json").read_text())
    (run / "checkpoint" / record["state"]).write_bytes(data)
    _rewrite_run_json(run, lambda r: r.update(state_sha256=hashlib.sha256(data).hexdigest()))


def _fails(argv, capsys, *expected):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


CSV = ["--categorical", "user,item"]


def test_train_data_errors(root, tmp_path, capsys):
    out = ["--out", tmp_path / "r", "--epochs", "1", *TINY]
    _fails(["train", "--dataset", "criteo:/no/such/file", *out], capsys, "no such file")
    _fails(["train", "--dataset", f"csv:{root / 'twice.csv'}", "--categorical", "user", *out],
           capsys, "twice.csv:1:", "more than once")
    _fails(["train", "--dataset", f"csv:{root / 'd.csv'}", "--categorical", "label,user", *out],
           capsys, "listed twice")
    _fails(["train", "--dataset", f"libfm:{root / 'big.libfm'}", *out], capsys,
           "big.libfm:2:", "int32 range")
    _fails(["train", "--dataset", f"libfm:{root / 'digits.libfm'}", *out], capsys,
           "digits.libfm:2:", "ASCII digits")
    _fails(["train", "--dataset", f"criteo:{root / 'bad.criteo'}", *out], capsys, "bad.criteo:1:")


def test_train_argument_errors(tmp_path, capsys):
    out = ["--out", tmp_path / "r", *TINY]
    _fails(["train", "--lr", "0", *out], capsys, "--lr")
    _fails(["train", "--lr-decay", "nan", *out], capsys, "--lr-decay")
    _fails(["train", "--patience", "-1", *out], capsys, "--patience")
    _fails(["train", "--epochs", "0", *out], capsys, "--epochs")


@pytest.mark.parametrize("fw", ["jax", "torch"])
def test_resume_from_broken_run_folders(root, tmp_path, capsys, fw):
    data = ["--dataset", f"csv:{root / 'd.csv'}", *CSV, "--framework", fw, *TINY, "--epochs", "2"]
    run = _copy_run(root, fw, tmp_path)
    _fails(["train", *data, "--out", run], capsys, "holds a run already", "--overwrite replaces it")
    for change, text in [(lambda r: r.pop("history"), "not a run record"),
                         (lambda r: r.update(lr="fast"), "not a run record"),
                         (lambda r: r.update(best=[1, 2]), "not a run record")]:
        run = _copy_run(root, fw, tmp_path / str(len(os.listdir(tmp_path))))
        _rewrite_run_json(run, change)
        _fails(["train", *data, "--resume", "--out", run], capsys, "run.json", text)
    run = _copy_run(root, fw, tmp_path / "flip")
    path = run / "checkpoint" / "run.json"
    path.write_bytes(path.read_bytes().replace(b'"lr"', b'"lR"', 1))
    _fails(["train", *data, "--resume", "--out", run], capsys, "run.json", "sha256")
    run = _copy_run(root, fw, tmp_path / "garbage")
    _replace_state(run, b"\x00garbage" * 100)
    _fails(["train", *data, "--resume", "--out", run], capsys, "does not restore")
    if fw == "torch":
        run = _copy_run(root, fw, tmp_path / "evil")
        _replace_state(run, (root / "evil.pt").read_bytes())
        _fails(["train", *data, "--resume", "--out", run], capsys, "does not restore",
               "no code from the file ran")
        assert not (root / "PWNED").exists()


def test_a_full_disk_during_training_names_the_file(root, tmp_path, capsys, monkeypatch):
    import errno
    calls = []

    def fsync(fd):          # the pre-flight probe passes, the first real write does not
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", fsync)
    err = _fails(["train", "--dataset", f"csv:{root / 'd.csv'}", *CSV, *TINY, "--epochs", "1",
                  "--out", tmp_path / "r"], capsys, "No space left on device")
    assert str(tmp_path / "r") in err and ".tmp-" not in err


def test_convert_errors_and_checkpoint_shapes(root, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    _fails(["convert", root / "evil.pt", out, "--to", "jax"], capsys, "evil.pt",
           "no code from the file ran")
    assert not (root / "PWNED").exists()
    (tmp_path / "junk.pt").write_bytes(b"\x00junk" * 50)
    _fails(["convert", tmp_path / "junk.pt", out, "--to", "jax"], capsys, "junk.pt")
    _fails(["convert", tmp_path / "none.pt", out, "--to", "jax"], capsys, "no such file")
    _fails(["convert", root / "nested.pt", tmp_path / "no" / "dir" / "w.safetensors", "--to", "jax"],
           capsys, "cannot write", str(tmp_path / "no" / "dir" / "w.safetensors"))
    torch_weights = root / "torch" / "best.safetensors"
    from dcnmix.weights import load
    want, _, _ = load(torch_weights)
    for name in ("nested.pt", "bf16.pt"):   # a training checkpoint's {'model': sd}; bfloat16
        assert main(["convert", str(root / name), str(out), "--to", "jax"]) == 0
        got, _, _ = load(out)
        tol = 0 if name == "nested.pt" else 1e-2
        assert all(np.allclose(got[k], want[k], atol=tol, rtol=tol) for k in want)


def test_svd_predict_export_prepare_errors(root, tmp_path, capsys):
    run = root / "jax"
    _fails(["svd", run, "--layer", "7"], capsys, "--layer 7")
    _fails(["svd", run, "--dataset", "synthetic"], capsys, "do not fit the run's model")
    _fails(["svd", tmp_path / "none"], capsys, "summary.json")
    _fails(["predict", tmp_path / "none", "--data", f"csv:{root / 'd.csv'}"], capsys, "summary.json")
    _fails(["predict", run, "--data", f"csv:{tmp_path / 'none.csv'}"], capsys, "none.csv")
    _fails(["predict", run, "--data", f"csv:{root / 'twice.csv'}"], capsys, "twice.csv")
    _fails(["export", tmp_path / "none", "--format", "onnx", "--out", tmp_path / "m.onnx"],
           capsys, "summary.json")
    _fails(["prepare", f"csv:{tmp_path / 'none.csv'}", "--categorical", "a", "--out", tmp_path / "p"],
           capsys, "none.csv")
    _fails(["prepare", f"csv:{root / 'twice.csv'}", "--categorical", "user", "--out", tmp_path / "p"],
           capsys, "twice.csv:1:")
    broken = _copy_run(root, "jax", tmp_path)
    (broken / "summary.json").write_text("")
    _fails(["predict", broken, "--data", f"csv:{root / 'd.csv'}"], capsys, "summary.json",
           "not valid JSON")
    broken = _copy_run(root, "torch", tmp_path / "t")
    data = bytearray((broken / "best.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "best.safetensors").write_bytes(bytes(data))
    _fails(["export", broken, "--format", "onnx", "--out", tmp_path / "m.onnx"], capsys,
           "best.safetensors")
