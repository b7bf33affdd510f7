"""Test-wide settings: everything offline, caches in temporary folders, two threads; slow tests marked.

The ``slow`` rule: a test not marked ``@pytest.mark.slow`` fails when its call takes longer than
``$HARNESS_SLOW_TEST_SECONDS`` (default 20) times the machine's load per core (1-minute load
average / CPU count, at least 1), so ``python -m pytest -m "not slow"`` stays fast and a busy
machine does not turn the rule into noise. ``HARNESS_SLOW_TEST_SECONDS=0`` switches it off.
"""
import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning. On a busy machine (load 12 on 2 cores) the
# spinning at every parallel barrier made test_lama's batch-of-two check take 60-90 s instead
# of 0.4 s, with the same numbers: the wait policy does not change how work is split. It must
# be set before torch loads its OpenMP runtime; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

SLOW_TEST_SECONDS = float(os.environ.get("HARNESS_SLOW_TEST_SECONDS", "20"))

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


def _load_per_core() -> float:
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except (AttributeError, OSError):  # no load average on this platform
        return 1.0


def slow_limit() -> float:
    """Seconds an unmarked test may take here and now (0: no limit)."""
    return SLOW_TEST_SECONDS * _load_per_core()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.passed or SLOW_TEST_SECONDS <= 0 or item.get_closest_marker("slow"):
        return
    limit = slow_limit()
    if report.duration > limit:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} took {report.duration:.1f} s, over the {limit:.1f} s an unmarked test may take "
            f"(HARNESS_SLOW_TEST_SECONDS={SLOW_TEST_SECONDS:g} x load per core {_load_per_core():.1f}): "
            "make it faster or mark it @pytest.mark.slow"
        )
