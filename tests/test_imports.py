"""The import rules, each proved by making the forbidden packages unimportable:
dcnmix imports no framework; dcnmix_torch no jax/flax/optax; dcnmix_jax no torch; none of the
three imports parity. The trainers run end to end under the same blocks, so an import
hidden inside a function cannot slip through."""
import pkgutil
import subprocess
import sys

import pytest

from conftest import ROOT

JAX = "jax,jaxlib,flax,optax"
RULES = {  # package -> what it must never import
    "dcnmix": f"{JAX},torch,parity",
    "dcnmix_torch": f"{JAX},parity",
    "dcnmix_jax": "torch,parity",
}


def blocked(names: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "blocked.py"), names, *args],
                          capture_output=True, text=True, cwd=ROOT, check=False)


def modules(package: str) -> list[str]:
    folder = ROOT / package
    found = [package] + [f"{package}.{m.name}" for m in pkgutil.walk_packages([str(folder)])]
    return [m for m in found if not m.endswith("__main__")]


@pytest.mark.parametrize("package", sorted(RULES))
def test_every_module_imports_with_the_forbidden_packages_blocked(package):
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules(package))
    result = blocked(RULES[package], "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_block_is_real():
    """The mechanism catches a violation: the Flax model needs jax, the twin needs torch."""
    assert "blocked by tests/blocked.py: jax" in blocked(JAX, "-c", "import dcnmix_jax.model").stderr
    assert "blocked by tests/blocked.py: torch" in blocked("torch", "-c", "import dcnmix_torch.model").stderr


@pytest.mark.parametrize("framework,forbidden", [("torch", f"{JAX},parity"), ("jax", "torch,parity")])
def test_each_trainer_runs_without_the_other_framework(tmp_path, framework, forbidden):
    module = {"torch": "dcnmix_torch.train", "jax": "dcnmix_jax.train"}[framework]
    result = blocked(forbidden, "-m", module, "--synthetic-rows", "600", "--epochs", "1",
                     "--batch-size", "128", "--hidden-nums", "8", "--emb-num", "4",
                     "--no-progress", "--out", str(tmp_path / framework))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / framework / "summary.json").exists()
    result = blocked(forbidden, "-m", "dcnmix", "svd", str(tmp_path / framework))
    assert result.returncode == 0, result.stderr[-2000:]
