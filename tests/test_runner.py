"""Runner, cache and records: no recomputation on rerun, crash safety, failures, plug-ins."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.engine.adapt import plan_fit
from harness.metrics.scoring import Scorer
from harness.predictor import SizeSpec
from harness.store.records import load_failures, load_records
from harness.reports.report import aggregate
from harness.config import RunConfig
from harness.engine.runner import StrictModeError, run
from harness.data.spec import RunSpec
from tests.plugin_methods import MeanFill

ROOT = Path(__file__).resolve().parents[1]
SPEC = RunSpec(limit=2, size=64)
PLUGIN = "tests.plugin_methods:mean_fill"


def test_second_identical_run_predicts_and_scores_nothing(tmp_path, monkeypatch):
    calls = {"compute": 0}
    original = Scorer.score

    def counting(self, *args, **kwargs):
        calls["compute"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Scorer, "score", counting)
    MeanFill.calls = 0
    first = run(RunConfig.of(SPEC, [PLUGIN, "telea"], out=tmp_path))
    assert MeanFill.calls > 0 and calls["compute"] > 0
    assert [m.predicted for m in first.methods] == [6, 6]
    MeanFill.calls, calls["compute"] = 0, 0
    second = run(RunConfig.of(SPEC, [PLUGIN, "telea"], out=tmp_path))
    assert MeanFill.calls == 0 and calls["compute"] == 0
    assert [(m.predicted, m.scored) for m in second.methods] == [(0, 0), (0, 0)]
    pd.testing.assert_frame_equal(aggregate(load_records(first.run_dir)), aggregate(load_records(second.run_dir)))


@pytest.mark.parametrize("keep", ["holes", "full"])
def test_metrics_from_cache_equal_metrics_from_live_output(tmp_path, keep):
    live = run(RunConfig.of(SPEC, ["biharmonic"], out=tmp_path / "a", keep=keep, metrics=("PSNR", "SSIM", "L1")))
    rows_live = pd.DataFrame(live.methods[0].rows).set_index("item_id")
    # Ignore the cached metrics: they are recomputed from the cached (holes-only or full) outputs.
    cached = run(RunConfig.of(SPEC, ["biharmonic"], out=tmp_path / "b", keep=keep, rescore=True,
                 metrics=("PSNR", "SSIM", "L1")))
    assert cached.methods[0].predicted == 0 and cached.methods[0].scored == 6
    rows_cached = pd.DataFrame(cached.methods[0].rows).set_index("item_id")
    for metric in ("PSNR", "SSIM", "L1", "out_of_range"):
        assert (rows_live[metric] == rows_cached[metric]).all(), metric


def test_keep_outputs_none_keeps_metrics_only(tmp_path):
    from tests.cache_tools import count

    run(RunConfig.of(SPEC, [PLUGIN], out=tmp_path, keep="none", metrics=("PSNR",)))
    assert count("output") == 0 and count("metrics") == 6
    MeanFill.calls = 0
    again = run(RunConfig.of(SPEC, [PLUGIN], out=tmp_path, keep="none", metrics=("PSNR",)))
    assert MeanFill.calls == 0 and again.methods[0].predicted == 0  # metrics come from the cache


def _cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_kill_9_then_rerun_gives_the_uninterrupted_results(tmp_path):
    base = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_NO_LPIPS": "1"}
    args = ["run", "--methods", PLUGIN, "--limit", "3", "--size", "64", "--batch-size", "1", "--no-progress"]
    clean = {**base, "HARNESS_CACHE": str(tmp_path / "cache-clean")}
    assert _cli([*args, "--out", str(tmp_path / "clean")], clean).wait(120) == 0

    crashy = {**base, "HARNESS_CACHE": str(tmp_path / "cache-crash"), "MEAN_FILL_DELAY": "0.4"}
    proc = _cli([*args, "--out", str(tmp_path / "crash")], crashy)
    from harness.store.cache import Cache

    def outputs() -> int:
        return sum(e.header["kind"] == "output" for e in Cache(tmp_path / "cache-crash").entries())

    deadline = time.time() + 90
    while time.time() < deadline and outputs() < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = outputs()
    assert 3 <= done < 9, "the kill must land mid-run"
    assert _cli([*args, "--out", str(tmp_path / "crash")], {**crashy, "MEAN_FILL_DELAY": "0"}).wait(120) == 0
    pd.testing.assert_frame_equal(
        aggregate(load_records(tmp_path / "clean")), aggregate(load_records(tmp_path / "crash"))
    )


def test_nan_and_wrong_shape_become_recorded_failures_and_the_run_continues(tmp_path):
    result = run(RunConfig.of(SPEC, ["tests.plugin_methods:nan_first", "tests.plugin_methods:wrong_shape", "telea"],
                 out=tmp_path, batch_size=2))
    nan, shape, telea = result.methods
    assert len(nan.failures) == 3 and all("NaN" in f.reason for f in nan.failures)  # first of each batch of 2
    assert [r["status"] for r in nan.rows] == ["failed", "ok"] * 3
    assert len(shape.failures) == 6 and "expected (2, 3, 64, 64)" in shape.failures[0].reason
    assert len(telea.rows) == 6 and not telea.failures and {r["status"] for r in telea.rows} == {"ok"}
    failures = load_failures(tmp_path)
    assert set(failures["stage"]) == {"predict"} and len(failures) == 9


def test_strict_mode_is_fatal_but_keeps_written_records(tmp_path):
    with pytest.raises(StrictModeError):
        run(RunConfig.of(SPEC, ["telea", "tests.plugin_methods:nan_first"], out=tmp_path, strict=True))
    assert set(load_records(tmp_path)["method"]) == {"telea", "tests.plugin_methods:nan_first"}


@pytest.mark.parametrize("factory", ["square_multiple_of_8", "native_48"])
def test_size_constraints_are_met_by_the_harness(tmp_path, factory):
    result = run(RunConfig.of(RunSpec(limit=1, size=60), [f"tests.plugin_methods:{factory}"], out=tmp_path))
    assert not result.methods[0].failures and len(result.methods[0].rows) == 3


def test_plan_fit_pads_and_crops_back():
    fit = plan_fit(SizeSpec(square=True, multiple=4), 30, 21)
    assert fit.input_size == (32, 32)
    images, masks = torch.rand(1, 3, 30, 21), torch.zeros(1, 1, 30, 21)
    padded, padded_masks = fit.forward(images, masks)
    assert padded.shape == (1, 3, 32, 32) and padded_masks[..., 30:, :].sum() == 0
    assert torch.equal(fit.backward(padded), images)


@pytest.mark.parametrize("native", [48, 100])
def test_resizing_to_native_size_never_blends_holes_into_known_pixels(native):
    images = torch.full((1, 3, 64, 64), 0.8)
    masks = torch.zeros(1, 1, 64, 64)
    masks[..., 20:30, 10:50] = 1
    fit = plan_fit(SizeSpec(native=native), 64, 64)
    inputs, fitted = fit.forward(images * (1 - masks), masks)
    known = fitted.expand_as(inputs) == 0
    assert torch.allclose(inputs[known], torch.tensor(0.8), atol=1e-6)
    assert float(inputs[~known].abs().max()) == 0.0


@pytest.mark.slow
def test_two_runs_sharing_a_cache_at_once_agree(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_NO_LPIPS": "1", "HARNESS_CACHE": str(tmp_path / "cache"),
           "MEAN_FILL_DELAY": "0.05"}
    args = ["run", "--methods", f"{PLUGIN},telea", "--limit", "3", "--size", "64", "--batch-size", "1", "--no-progress"]
    procs = [_cli([*args, "--out", str(tmp_path / name)], env) for name in ("a", "b")]
    assert [p.wait(180) for p in procs] == [0, 0]
    assert not list((tmp_path / "cache").rglob(".tmp-*"))
    pd.testing.assert_frame_equal(aggregate(load_records(tmp_path / "a")), aggregate(load_records(tmp_path / "b")))
