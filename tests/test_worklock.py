"""Two runs of the same work at once: the second says so, waits, and predicts nothing; a killed
holder leaves no lock behind (harness.store.worklock)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from harness.config import RunConfig
from harness.data.spec import RunSpec
from harness.engine.runner import run
from harness.errors import UsageError
from harness.predictor import Predictor
from harness.store.worklock import exclusive, lock_path

ROOT = Path(__file__).resolve().parents[1]
GATED = "gated=tests.test_worklock:gated"


class Gated(Predictor):
    """Fills holes with grey; each batch says which process predicts it (``$GATE/predicting-<pid>``)
    and waits for ``$GATE/go``, so that a test knows its run holds the work while it starts another."""

    name = "gated"

    def __init__(self, gate: Path):
        self.gate = gate

    def predict(self, images, masks, **kwargs):
        (self.gate / f"predicting-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while not (self.gate / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return torch.full_like(images, 0.5)


def gated(checkpoint=None, device=None, **options):
    return Gated(Path(os.environ["GATE"]))


def _wait_for(condition, seconds=120.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _predicted(run_dir: Path) -> int:
    return json.loads((run_dir / "methods" / "gated" / "method.json").read_text())["predicted"]


@pytest.mark.slow  # two processes start one after the other: 10-40 s on a busy 2-core machine
def test_second_process_waits_for_the_same_run_then_reads_the_cache(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GATE": str(gate), "HARNESS_NO_LPIPS": "1",
           "HARNESS_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "harness", "run", "--methods", GATED, "--limit", "1", "--size", "32",
            "--no-progress", "--out", str(tmp_path / "runs")]
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (gate / f"predicting-{first.pid}").exists() or first.poll() is not None)
        assert first.poll() is None, first.stderr.read()
        second = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(second.stderr), daemon=True)
        reader.start()
        _wait_for(lambda: any("is computing the same run" in line for line in lines) or second.poll() is not None)
        assert first.poll() is None and second.poll() is None, "".join(lines)  # the second waits for the first
    finally:
        (gate / "go").touch()
    assert first.wait(120) == 0, first.stderr.read()
    assert second.wait(120) == 0
    reader.join(10)
    notices = [line for line in lines if "is computing the same run" in line]
    assert len(notices) == 1, "".join(lines)
    assert notices[0].startswith(f"another harness run (pid {first.pid}, started ")
    assert "waiting for it, then finished items come from the cache" in notices[0]
    assert not (gate / f"predicting-{second.pid}").exists()  # the second predicted nothing ...
    assert any("gated: 3 scored, 0 failed, 0 predicted" in line for line in lines), "".join(lines)
    run_dir = next((tmp_path / "runs").iterdir())
    assert _predicted(run_dir) == 0  # ... and its records say so (the first's said 3)


def test_no_wait_stops_with_the_holders_line(tmp_path, monkeypatch):
    """In one process, two runs on threads: the kernel's locks conflict between open files, not processes."""
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("GATE", str(gate))
    config = RunConfig.of(RunSpec(limit=1, size=32), [GATED], out=tmp_path / "runs", metrics=("L1",))
    outcome: dict = {}
    holder = threading.Thread(target=lambda: outcome.setdefault("first", run(config)))
    holder.start()
    try:
        _wait_for(lambda: (gate / f"predicting-{os.getpid()}").exists() or not holder.is_alive())
        with pytest.raises(UsageError, match=rf"^another harness run \(pid {os.getpid()}, started .*\) is computing "
                                             rf"the same run in .*runs.*; not waiting \(--no-wait\)"):
            run(RunConfig.of(RunSpec(limit=1, size=32), [GATED], out=tmp_path / "runs", metrics=("L1",), wait=False))
    finally:
        (gate / "go").touch()
        holder.join(60)
    assert [m.predicted for m in outcome["first"].methods] == [3]
    # once the holder is done, the same call goes through and finds everything cached
    again = run(RunConfig.of(RunSpec(limit=1, size=32), [GATED], out=tmp_path / "runs", metrics=("L1",), wait=False))
    assert [(m.predicted, m.counts()["scored_items"]) for m in again.methods] == [(0, 3)]


def test_other_work_and_other_parts_do_not_wait(tmp_path):
    with exclusive(tmp_path, ["data|method|shard 0/1 of 1"], tmp_path / "run"):
        for key in ("data|method|rank 1 of 2", "data|other method|shard 0/1 of 1", "other data|method|shard 0/1 of 1"):
            with exclusive(tmp_path, [key], tmp_path / "run", wait=False):
                pass
        with pytest.raises(UsageError, match="is computing the same run"):
            with exclusive(tmp_path, ["data|method|shard 0/1 of 1", "a first|x"], tmp_path / "run", wait=False):
                pass
        with exclusive(tmp_path, ["a first|x"], tmp_path / "run", wait=False):  # taken first, let go with the error
            pass
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == sorted(
        lock_path(tmp_path, k).name for k in ("data|method|shard 0/1 of 1", "data|method|rank 1 of 2",
                                              "data|other method|shard 0/1 of 1", "other data|method|shard 0/1 of 1",
                                              "a first|x"))


HOLD = """
import sys, time
from pathlib import Path
from harness.store.worklock import exclusive
with exclusive(Path(sys.argv[1]), ["the work"], Path("elsewhere/run")):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(UsageError, match=rf"pid {holder.pid}, started .* in elsewhere/run; not waiting"):
            with exclusive(tmp_path, ["the work"], tmp_path / "run", wait=False):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    assert lock_path(tmp_path, "the work").exists()  # the file stays; its lock went with the process
    started = time.monotonic()
    with exclusive(tmp_path, ["the work"], tmp_path / "run", wait=False):
        pass
    assert time.monotonic() - started < 1
