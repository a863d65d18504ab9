"""Shared fixtures. Real data and the seed code are found through DCNMIX_SHARED (.ci/run sets it)."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_path(*parts) -> pathlib.Path:
    """A path under $DCNMIX_SHARED: skip when the variable is unset, fail when the file is missing."""
    base = os.environ.get("DCNMIX_SHARED")
    if not base:
        pytest.skip("DCNMIX_SHARED is not set (point it at the shared/ folder with data and seeds)")
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
