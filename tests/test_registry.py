"""The seams: the core's imports read from the source (function bodies included), the package
graph without circles, and the registries (backends, models, optimisers) that every part
reads; old run folders through all of it."""
import ast
import json
import shutil

import numpy as np
import pytest

from conftest import ROOT

PACKAGES = ("dcnmix", "dcnmix_jax", "dcnmix_torch", "parity")
FRAMEWORK = ("jax", "jaxlib", "flax", "optax", "torch", "dcnmix_jax", "dcnmix_torch", "parity")


def _module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path) -> list[tuple[str, int]]:
    """Every module an import statement of `path` names (absolute, relative ones resolved),
    wherever the statement is, with its line."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _sources(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def test_the_core_names_no_framework_anywhere():
    """dcnmix/ has no import of a framework or of the framework packages, not even inside a
    function: they are reached only through the registries, by name."""
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}" for p in _sources("dcnmix")
           for name, line in _imports(p) if name.split(".")[0] in FRAMEWORK]
    assert not bad, "\n".join(bad)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for pkg in PACKAGES for p in _sources(pkg)}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported, _ in _imports(path):
            while imported and imported not in modules:   # `from pkg import name` names a module or not
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)       # a package's own __init__ is not an edge of its modules
        graph[name] = targets
    return graph


def _cycle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None
    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_graph_has_no_circle():
    """Module imports, function-level ones included, form no circle in any of the packages."""
    graph = _graph()
    assert "dcnmix.backends" in graph and "dcnmix.models.dcn" in graph      # the walk sees them
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_backends_come_from_entry_points():
    from dcnmix import backends
    from dcnmix.config import ConfigError, TrainConfig
    assert backends.names()[:2] == ("jax", "torch") and backends.command_names() == ("convert", "parity")
    fields = set(TrainConfig.__dataclass_fields__) | {"mesh"}
    for name in backends.names():
        backend = backends.get(name)
        assert backend.name == name and set(backend.supports) <= fields
    assert backends.export_formats() == {"stablehlo": "jax", "onnx": "torch"}
    with pytest.raises(ConfigError, match="unknown framework 'tf' .installed backends: jax, torch"):
        backends.get("tf")


def test_every_model_and_optimiser_is_declared_once_and_built_in_both_frameworks():
    from dcnmix import models, optimizers
    from dcnmix_jax import optim as jax_optim
    from dcnmix_torch import optim as torch_optim
    for name in models.names():
        spec = models.spec(name)
        assert callable(spec.module("jax")) and callable(spec.module("torch"))
        assert set(spec.supports) <= {"embedding_optimizer", "dtype", "mixture", "mesh"}
    assert set(jax_optim.BUILDERS) == set(torch_optim.BUILDERS) == set(optimizers.NAMES)
    assert set(jax_optim.ROW_UPDATES) == {n for n, s in optimizers.REGISTRY.items() if s.lazy}


@pytest.mark.parametrize("argv,expected", [
    (("--optimizer", "adam", "--momentum", "0.9"), "error: --momentum: momentum is an option of --optimizer sgd, not of adam"),
    (("--optimizer", "adamw", "--embedding-optimizer", "lazy"), "error: --embedding-optimizer: --optimizer adamw has no lazy (row-wise) form; adam and adagrad do"),
    (("--framework", "torch", "--embedding-optimizer", "lazy"), "error: --embedding-optimizer: --embedding-optimizer lazy is not supported by the torch backend"),
    (("--model", "fm", "--dtype", "bfloat16"), "error: --dtype: --dtype bfloat16 is not supported by model fm (it trains with --dtype float32 or --dtype float64)"),
    (("--model", "dnn", "--mesh", "1x1"), "error: --mesh: --mesh is not supported by model dnn (it trains with one device)"),
    (("--framework", "torch", "--mesh", "2x1"), "error: --mesh: --mesh is not supported by the torch backend"),
    (("--optimizer", "rmsprop",), "invalid choice: 'rmsprop'"),
])
def test_unsupported_options_are_one_line_naming_the_flag(tmp_path, capsys, argv, expected):
    from dcnmix.cli import main
    try:
        code = main(["train", *argv, "--dataset", "criteo:/no/such/file", "--out", str(tmp_path / "x")])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err, err
    assert err.count("\n") == 1 or expected.startswith("invalid choice"), err   # argparse: usage too
    assert not (tmp_path / "x").exists()       # refused before any data or folder


TINY = ["--synthetic-rows", "800", "--epochs", "1", "--batch-size", "128", "--emb-num", "4",
        "--order-num", "1", "--r", "4", "--hidden-nums", "8", "--no-progress"]


@pytest.mark.parametrize("framework,options", [
    ("torch", ("--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05")),
    ("jax", ("--optimizer", "adagrad", "--lr", "0.05", "--embedding-optimizer", "lazy")),
    ("jax", ("--optimizer", "adamw", "--weight-decay", "0.01", "--model", "crossnet")),
])
def test_optimisers_train_from_the_cli_and_record_themselves(tmp_path, framework, options):
    from dcnmix.cli import main
    out = tmp_path / "run"
    argv = ["train", *TINY, "--framework", framework, *options, "--out", str(out)]
    if "crossnet" in options:
        argv.remove("--hidden-nums"), argv.remove("8")
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train"]["optimizer"] == options[1] and 0.0 < summary["test_auc"] < 1.0
    assert main([*argv, "--epochs", "2", "--resume"]) == 0     # the state restores under its optimiser
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2


def test_float64_training_is_identical_per_optimiser():
    """parity's optimiser rows: each optimiser's torch and optax forms train a DCN to the same
    validation AUC per epoch and the same parameters (float64, same batches); and so do the
    DCN-V2 paper's options (--clip-norm, --ema, --init he_normal)."""
    from dcnmix.data import split, synthetic
    from parity.checks import config_for, optimizer_rows
    train, valid, _ = split(synthetic(n=2000, seed=0), (0.8, 0.1, 0.1), seed=0)
    cfg = config_for(1, "parallel", "mix", emb_num=4, hidden_nums=(16,), r=4)
    rows = list(optimizer_rows(cfg, train, valid, epochs=2))
    assert len(rows) == 14 and sum("--clip-norm" in r.check for r in rows) == 4
    assert sum("--ema" in r.check for r in rows) == 4
    failed = [(r.check, r.error, r.bound, r.detail) for r in rows if not r.passed]
    assert not failed


OLD = ROOT / "tests" / "fixtures" / "runs_a8fcd38"     # written by dcnmix at commit a8fcd38


@pytest.mark.parametrize("name", ["dcn-jax-lazy", "fm-torch", "pnn-jax"])
def test_run_folders_written_before_the_registries_load_and_resume(tmp_path, name):
    """Run folders (weights format 'dcnmix-dcn' 2, TrainConfig without optimizer, a LazyState
    with m and v) made by the code before this change: they predict what that code predicted,
    in both frameworks (and as Flax NNX modules), and resume."""
    import dcnmix
    from dcnmix.weights import load
    run = tmp_path / name
    shutil.copytree(OLD / name, run)
    ids = np.random.default_rng(0).integers(0, 72, (16, 10)).astype(np.int32)
    want = np.load(run / "expected_probs.npy")
    for framework, api in (("jax", None), ("torch", None), ("jax", "nnx")):
        loaded = dcnmix.load_run(run, framework=framework, api=api)
        np.testing.assert_allclose(loaded.predict(ids), want, atol=1e-6)
    _, cfg, meta = load(run / "best.safetensors")
    assert meta["format"] == "dcnmix-dcn" and cfg.model == json.loads((run / "summary.json").read_text())["config"].get("model", "dcn")
    summary = json.loads((run / "summary.json").read_text())
    tc = dcnmix.TrainConfig(**{**summary["train"], "epochs": summary["epochs_run"] + 1})
    again, _ = dcnmix.train(summary["config"] | {"field_num": 10, "feat_dim": 72},
                            dcnmix.DataSpec.from_dict(summary["data"]), out=str(run),
                            framework=summary["framework"], train_config=tc, resume=True,
                            progress=False, log=lambda *_: None)
    assert again["epochs_run"] == summary["epochs_run"] + 1
    assert json.loads((run / "summary.json").read_text())["run_id"] == summary["run_id"]   # the same run


def test_the_docs_and_help_name_every_registered_model_and_optimiser(capsys):
    """A model or optimiser added to a registry shows in `dcnmix train --help` (its flags are
    read from the registries) and must be documented in docs/training.md."""
    from dcnmix import models, optimizers
    from dcnmix.cli import main
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    training = (ROOT / "docs" / "training.md").read_text()
    listed = training.split("`--model ", 1)[1].split("`", 1)[0].split("|")
    assert listed == list(models.names())
    assert training.split("`--optimizer ", 1)[1].split("`", 1)[0].split("|") == list(optimizers.NAMES)
    assert "{" + ",".join(models.names()) + "}" in help_text.replace("\n", "").replace(" ", "")


def test_clip_norm_is_torchs_clip_grad_norm():
    """dcnmix_jax's clipping scales as torch.nn.utils.clip_grad_norm_ does (above and below the
    norm), and --clip-norm is refused where the gradients are never whole (lazy)."""
    import jax
    import numpy as np
    import torch
    from dcnmix.config import ConfigError, TrainConfig
    from dcnmix_jax.optim import clip_by_global_norm_like_torch
    from parity.harness import x64
    rng = np.random.default_rng(0)
    grads = {"a": rng.normal(size=(5, 3)), "b": rng.normal(size=(7,))}
    norm = float(np.sqrt(sum((g ** 2).sum() for g in grads.values())))
    for max_norm in (norm / 4, norm * 4):
        tensors = {k: torch.tensor(v) for k, v in grads.items()}
        for t in tensors.values():
            t.grad = t.detach().clone()
        torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm)
        tx = clip_by_global_norm_like_torch(max_norm)
        with x64(True):
            clipped, _ = tx.update(jax.tree_util.tree_map(jax.numpy.asarray, grads), tx.init(grads))
            for k in grads:
                np.testing.assert_allclose(np.asarray(clipped[k]), tensors[k].grad.numpy(),
                                           rtol=1e-15)
        assert (max_norm < norm) == (np.abs(tensors["a"].grad.numpy()).max() < np.abs(grads["a"]).max())
    with pytest.raises(ConfigError, match="--embedding-optimizer lazy"):
        TrainConfig(clip_norm=10.0, embedding_optimizer="lazy")
    with pytest.raises(ConfigError, match="clip_norm must be > 0"):
        TrainConfig(clip_norm=0.0)
