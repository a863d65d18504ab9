"""Shared fixtures. Real data and the seed code are found through DCNMIX_SHARED (.ci/run sets it)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_path(*parts) -> pathlib.Path:
    """A path under $DCNMIX_SHARED: skip when the variable is unset, fail when the file is missing."""
    base = os.environ.get("DCNMIX_SHARED")
    if not base:
        missing("DCNMIX_SHARED is not set (point it at the shared/ folder with data and seeds)")
    path = pathlib.Path(base, *parts)
    if not path.exists():
        pytest.fail(f"DCNMIX_SHARED is set but {path} does not exist")
    return path


@pytest.fixture
def frappe_dir():
    return shared_path("data", "frappe")


@pytest.fixture
def criteo_dir():
    return shared_path("data", "criteo")


@pytest.fixture
def seed_module():
    """The seed article's PyTorch code, imported from shared/seeds."""
    import importlib.util
    path = shared_path("seeds", "seed_dcn_mix_reference.py")
    spec = importlib.util.spec_from_file_location("seed_dcn_mix_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing(reason: str):
    """A prerequisite is missing: in CI (CI set, as .ci/run runs) that is a failure, never a
    skip that could hide one; on a developer's machine a skip that says what to set."""
    if os.environ.get("CI"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def _peer_missing(what: str):
    """Fail when DCNMIX_PEERS is set or in CI (.ci/run installs the peers); else skip."""
    if os.environ.get("DCNMIX_PEERS"):
        pytest.fail(f"DCNMIX_PEERS is set but {what} is not installed (see .ci/run)")
    missing(f"{what} is not installed (pip install --no-deps deepctr-torch torchrec; "
             "set DCNMIX_PEERS=1 to require it)")


@pytest.fixture
def deepctr():
    """DeepCTR-Torch's layers and models."""
    try:
        import deepctr_torch
    except ImportError:
        _peer_missing("deepctr-torch")
    return deepctr_torch


@pytest.fixture
def torchrec_crossnet():
    """torchrec/modules/crossnet.py from the installed torchrec wheel, loaded as a lone module:
    the torchrec package itself needs fbgemm-gpu, which has no build here; this file needs torch only."""
    import importlib.metadata
    import importlib.util
    try:
        path = importlib.metadata.distribution("torchrec").locate_file("torchrec/modules/crossnet.py")
    except importlib.metadata.PackageNotFoundError:
        _peer_missing("torchrec")
    spec = importlib.util.spec_from_file_location("torchrec_crossnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_configure(config):
    """Prepared data of `--dataset criteo:/csv:` goes to a temporary cache, never ~/.cache.
    JAX's persistent compilation cache is on for the session, in one temporary folder the
    xdist workers and every subprocess share (set before any jax import; a worker inherits
    the controller's): the many short runs of one tiny configuration compile once (the
    kill -9 test measured 52 s without it, 31 s with it)."""
    import tempfile
    os.environ["DCNMIX_CACHE"] = tempfile.mkdtemp(prefix="dcnmix-cache-")
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="dcnmix-jax-cache-")
        os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
