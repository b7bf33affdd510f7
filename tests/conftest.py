"""Test-wide settings: everything offline, caches in temporary folders, two threads."""
import os
from pathlib import Path

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TORCH_HOME", str(Path(os.environ.get("PYTEST_TMPDIR", "/tmp")) / "harness-test-torch-home"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NVIDIA_MASKS = SHARED / "data" / "nvidia-irregular-test-masks"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Each test gets its own harness cache, weights folder and torch hub folder."""
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))


@pytest.fixture
def nvidia_masks() -> Path:
    if not NVIDIA_MASKS.is_dir():
        pytest.skip("../shared/data/nvidia-irregular-test-masks is not present")
    return NVIDIA_MASKS


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of network tests: faster than two on oversubscribed cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
