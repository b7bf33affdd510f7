"""No silent wrong number: one test per way a table used to be wrong without an error.

Each test names the finding it reproduces (issue "Numbers you can trust", findings 1-12).
"""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data as skdata

from harness.store.cache import Cache
from harness.cli import main
from harness.data.images import array_sha256, prepare_image, read_image
from harness.data.manifest import build_manifest
from harness.store.records import load_records
from harness.reports.report import aggregate, render
from harness.config import RunConfig
from harness.engine.runner import Evaluation, run
from harness.data.spec import RunSpec
from tests.plugin_methods import MeanFill

ROOT = Path(__file__).resolve().parents[1]
NO_LPIPS = ("PSNR", "SSIM", "L1")
PLUGIN = "tests.plugin_methods"


def _photo(index: int, size: int = 64) -> np.ndarray:
    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    return prepare_image(photos[index % len(photos)], size)


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _folder(root: Path, names: list[str], offset: int = 0) -> Path:
    for i, name in enumerate(names):
        _save(root / "images" / name, _photo(i + offset))
    return root


def _hole(ratio_rows: float, size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[: int(round(ratio_rows * size))] = 255
    return mask


def _cli(args: list[str], capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# 1. Reports pool different protocols ----------------------------------------------------------

def test_1_report_keeps_two_protocols_apart(tmp_path, capsys):
    runs = tmp_path / "runs"
    common = ["--methods", "telea,biharmonic", "--limit", "2", "--out", runs, "--no-progress", "--no-lpips"]
    assert _cli(["run", *common, "--size", "64"], capsys)[0] == 0
    assert _cli(["run", *common, "--size", "48"], capsys)[0] == 0
    assert _cli(["run", *common[:3], "3", *common[4:], "--size", "64"], capsys)[0] == 0

    code, text = _cli(["report", "--runs", runs, "--format", "csv"], capsys)
    table = pd.read_csv(io.StringIO(text))
    assert code == 0 and table["run"].nunique() == 3
    assert sorted(table.groupby("run")["n"].max()) == [2, 2, 3]  # never one pooled cell of n=4 or n=7
    assert {"n", "failures"} <= set(table.columns)

    code, markdown = _cli(["report", "--runs", runs], capsys)
    assert markdown.count("### ") == 3 and "size 48" in markdown

    code, paired = _cli(["report", "--runs", runs, "--paired", "telea,biharmonic"], capsys)
    assert code == 0 and paired.count("40-60") >= 3  # one comparison per run, no MergeError
    code, confidence = _cli(["report", "--runs", runs, "--confidence", "--format", "csv"], capsys)
    assert pd.read_csv(io.StringIO(confidence))["run"].nunique() == 3

    code, pooled = _cli(["report", "--runs", runs, "--combine", "--format", "csv"], capsys)
    assert code == 2 and "more than once" in pooled  # the runs share their images: pooling would count them twice


# 2. Run identity ignores the data -----------------------------------------------------------------

def test_2_two_data_folders_with_the_same_flags_are_two_runs(tmp_path):
    first = _folder(tmp_path / "a", ["p.png", "q.png"])
    second = _folder(tmp_path / "b", ["p.png", "q.png"], offset=2)
    results = [
        run(RunConfig.of(RunSpec(dataset="folder", data_root=str(root), size=64), ["telea"], out=tmp_path / "runs",
            metrics=NO_LPIPS))
        for root in (first, second)
    ]
    assert results[0].run_dir != results[1].run_dir
    manifest = pd.read_csv(results[0].run_dir / "manifest.csv")
    expected = array_sha256(prepare_image(read_image(first / "images" / "p.png"), 64))
    assert expected in set(manifest["image_sha256"])
    records = load_records(tmp_path / "runs")
    assert records.groupby("run")["image_id"].nunique().tolist() == [2, 2]


# 3. Image identity by file stem ----------------------------------------------------------------------

def test_3_same_stem_other_extension_are_two_items_predicted_from_their_own_pixels(tmp_path, monkeypatch):
    root = tmp_path / "data"
    _save(root / "images" / "x.png", _photo(0))
    _save(root / "images" / "x.jpg", _photo(1))
    spec = RunSpec(dataset="folder", data_root=str(root), size=64, buckets="20-40")
    manifest = build_manifest(spec)
    assert sorted(i.image_id for i in manifest.items) == ["x.jpg", "x.png"]
    for item in manifest.items:
        assert item.image_sha256 == array_sha256(prepare_image(read_image(root / "images" / item.image_id), 64))
    both = run(RunConfig.of(spec, ["telea"], out=tmp_path / "runs", metrics=NO_LPIPS))

    alone = tmp_path / "alone"
    (alone / "images").mkdir(parents=True)
    (alone / "images" / "x.jpg").write_bytes((root / "images" / "x.jpg").read_bytes())
    spec_alone = RunSpec(dataset="folder", data_root=str(alone), size=64, buckets="20-40")
    warm = run(RunConfig.of(spec_alone, ["telea"], out=tmp_path / "runs", metrics=NO_LPIPS))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "fresh-cache"))
    fresh = run(RunConfig.of(spec_alone, ["telea"], out=tmp_path / "runs-fresh", metrics=NO_LPIPS))
    assert warm.methods[0].rows[0]["PSNR"] == fresh.methods[0].rows[0]["PSNR"]
    jpg = next(r for r in both.methods[0].rows if r["image_id"] == "x.jpg")
    assert jpg["PSNR"] == fresh.methods[0].rows[0]["PSNR"]


def test_3_a_file_changed_after_the_manifest_is_a_failure_not_a_prediction_on_other_pixels(tmp_path):
    root = _folder(tmp_path / "data", ["p.png", "q.png"])
    manifest = build_manifest(RunSpec(dataset="folder", data_root=str(root), size=64, buckets="20-40"))
    _save(root / "images" / "p.png", _photo(3))
    evaluation = Evaluation(manifest, MeanFill(), "mean-fill", Cache(), batch_size=2, metrics=NO_LPIPS)
    result = evaluation.run(manifest.items, show_progress=False)
    assert [f.item_id.split("|")[0] for f in result.failures] == ["p.png"]
    assert "changed" in result.failures[0].reason
    assert [r["image_id"] for r in result.rows if r["status"] == "ok"] == ["q.png"]


# 4. Stale metrics after a code change ------------------------------------------------------------------

def test_4_check_on_a_warm_cache_catches_a_changed_metric(tmp_path, capsys, monkeypatch):
    expected = ROOT / "results" / "expected" / "sample-classical.json"
    small = json.loads(expected.read_text())
    runs = tmp_path / "runs"
    # Expectations for a small spec, written by the harness itself, then checked warm.
    small["spec"].update(limit=1, size=48)
    small["aggregates"] = []
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small))
    assert _cli(["check", "--expected", path, "--runs", runs, "--write", "--no-progress"], capsys)[0] == 0
    assert _cli(["check", "--expected", path, "--runs", runs, "--no-progress"], capsys)[0] == 0

    import harness.metrics.functional as functional

    original = functional.psnr_torch  # what scores on the model's device, the CPU here
    monkeypatch.setattr(functional, "psnr_torch", lambda views: [value + 1.0 for value in original(views)])
    # A warm check reads the cached metrics (their keys carry each metric's code version, which
    # tests/test_code_versions.py holds against the code); --rescore recomputes them from the cached outputs.
    assert _cli(["check", "--expected", path, "--runs", runs, "--no-progress"], capsys)[0] == 0
    code, text = _cli(["check", "--expected", path, "--runs", runs, "--no-progress", "--rescore"], capsys)
    assert code == 1 and "PSNR" in text


def test_4_metric_version_prediction_version_and_weights_each_force_recomputation(tmp_path, monkeypatch):
    from dataclasses import replace

    import harness.engine.prediction as prediction
    from harness.metrics import registry
    from harness.metrics.scoring import Scorer

    spec = RunSpec(limit=1, size=48)
    mean_fill = f"{PLUGIN}:mean_fill"
    run(RunConfig.of(spec, [mean_fill], out=tmp_path / "r", metrics=NO_LPIPS))

    calls = {"compute": 0}
    compute = Scorer.score

    def counting(self, *args, **kwargs):
        calls["compute"] += 1
        return compute(self, *args, **kwargs)

    monkeypatch.setattr(Scorer, "score", counting)
    MeanFill.calls = 0
    again = run(RunConfig.of(spec, [mean_fill], out=tmp_path / "r", metrics=NO_LPIPS))
    assert (MeanFill.calls, calls["compute"], again.methods[0].predicted) == (0, 0, 0)

    psnr = registry.get_metric("paper.PSNR")
    monkeypatch.setitem(registry._METRICS, psnr.key, replace(psnr, version=psnr.version + 1))
    rescored = run(RunConfig.of(spec, [mean_fill], out=tmp_path / "r", metrics=NO_LPIPS))
    assert MeanFill.calls == 0 and rescored.methods[0].scored == 3 and calls["compute"] > 0

    monkeypatch.setattr(prediction, "PREDICTION_CODE_VERSION", prediction.PREDICTION_CODE_VERSION + 1)
    repredicted = run(RunConfig.of(spec, [mean_fill], out=tmp_path / "r", metrics=NO_LPIPS))
    assert repredicted.methods[0].predicted == 3 and MeanFill.calls > 0

    weights = tmp_path / "level.txt"
    weights.write_text("0.25")
    first = run(RunConfig.of(spec, [f"{PLUGIN}:constant_fill"], checkpoints={f"{PLUGIN}:constant_fill": str(weights)},
                out=tmp_path / "w", metrics=NO_LPIPS))
    weights.write_text("0.75")
    second = run(RunConfig.of(spec, [f"{PLUGIN}:constant_fill"], checkpoints={f"{PLUGIN}:constant_fill": str(weights)},
                 out=tmp_path / "w", metrics=NO_LPIPS, replace=True))
    assert first.methods[0].predicted == second.methods[0].predicted == 3
    assert first.methods[0].rows[0]["PSNR"] != second.methods[0].rows[0]["PSNR"]


# 5. Masks ----------------------------------------------------------------------------------------------

def test_5_unusable_masks_and_unmatched_images_are_recorded_failures(tmp_path, capsys):
    root = _folder(tmp_path / "data", [f"{c}.png" for c in "abcdefg"])
    masks = root / "masks"
    _save(masks / "a.png", _hole(0.0))  # empty
    _save(masks / "b.png", _hole(1.0))  # full
    _save(masks / "c.png", _hole(0.75))  # outside every bucket
    masks.joinpath("d.png").write_bytes(b"not a png")  # unreadable
    _save(masks / "e.png", _hole(0.1))  # fine
    wide = np.zeros((64, 192), np.uint8)
    wide[:, :20] = 255  # the hole lies in the part the centre crop removes
    _save(masks / "g.png", wide)  # f has no mask at all
    spec = RunSpec(dataset="folder", data_root=str(root), size=64)
    result = run(RunConfig.of(spec, ["telea"], out=tmp_path / "runs", metrics=NO_LPIPS))
    reasons = {f.item_id.split("|")[0]: f.reason for f in result.manifest.failures}
    assert set(reasons) == {"a.png", "b.png", "c.png", "d.png", "f.png", "g.png"}
    assert "empty" in reasons["a.png"] and "empty" in reasons["g.png"]
    assert "full" in reasons["b.png"] and "outside every bucket" in reasons["c.png"]
    assert "cannot be read" in reasons["d.png"] and "no mask" in reasons["f.png"]
    assert [r["image_id"] for r in result.methods[0].rows if r["status"] == "ok"] == ["e.png"]
    failures = pd.read_csv(result.run_dir / "input_failures.csv")
    assert len(failures) == 6
    code, text = _cli(["run", "--methods", "telea", "--dataset", "folder", "--data-root", root, "--size", 64,
                       "--out", tmp_path / "runs", "--strict", "--no-progress", "--no-lpips"], capsys)
    assert code == 1 and "6" in text


def test_5_an_empty_mask_in_a_pool_is_never_paired(tmp_path):
    pool = tmp_path / "pool"
    _save(pool / "empty.png", _hole(0.0))
    _save(pool / "ten.png", _hole(0.1))
    spec = RunSpec(masks="folder", mask_root=str(pool), size=64, buckets="0-20", limit=3)
    manifest = build_manifest(spec)
    assert [i.mask_id for i in manifest.items] == ["ten.png"] * 3
    assert any("empty" in f.reason for f in manifest.failures)


# 6. Failures are hidden -----------------------------------------------------------------------------------

def test_6_tables_show_n_and_failures_and_rank_on_common_items(tmp_path):
    result = run(RunConfig.of(RunSpec(limit=9, size=48, buckets="40-60"), ["telea", f"{PLUGIN}:nan_on_large_holes"],
                 out=tmp_path, metrics=NO_LPIPS))
    large = sum(i.hole_ratio > 0.5 for i in result.manifest.items)
    assert 0 < large < 9
    table = aggregate(load_records(tmp_path)).set_index("method")
    assert table.loc[f"{PLUGIN}:nan_on_large_holes", ["n", "failures"]].tolist() == [9 - large, large]
    assert table.loc["telea", ["n", "failures"]].tolist() == [9, 0]

    # A method scored on its easy items only must not be ranked best against one scored on all.
    ids = [f"i{k}" for k in range(6)]
    records = pd.DataFrame({
        "run": "r", "dataset": "d", "bucket": "40-60", "item_id": ids * 2, "status": ["ok"] * 3 + ["failed"] * 3 + ["ok"] * 6,
        "method": ["partial"] * 6 + ["full"] * 6,
        "PSNR": [30, 30, 30, np.nan, np.nan, np.nan, 31, 31, 31, 20, 20, 20],
    })
    markdown = render(records)
    partial_row = next(line for line in markdown.splitlines() if line.startswith("| partial"))
    full_row = next(line for line in markdown.splitlines() if line.startswith("| full"))
    assert "**30.000**" not in partial_row and "**25.500**" in full_row
    assert "partial*" in partial_row and "| 3 " in partial_row  # marked, and its 3 failures shown


# 7. Predictions ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory, reason", [("inf_out", "NaN or Inf"), ("neginf_out", "NaN or Inf"),
                                             ("uint8_out", "uint8")])
def test_7_non_finite_and_integer_predictions_are_failures(tmp_path, factory, reason):
    result = run(RunConfig.of(RunSpec(limit=1, size=48), [f"{PLUGIN}:{factory}"], out=tmp_path, metrics=NO_LPIPS))
    outcome = result.methods[0]
    assert len(outcome.failures) == 3 and reason in outcome.failures[0].reason
    assert not [r for r in outcome.rows if r["status"] == "ok"]
    from tests.cache_tools import count

    assert count("output") == 0


def test_7_out_of_range_values_are_counted_and_a_mutating_predictor_cannot_touch_scoring(tmp_path):
    result = run(RunConfig.of(RunSpec(limit=1, size=48), [f"{PLUGIN}:overshoot", f"{PLUGIN}:mask_mutator", f"{PLUGIN}:mean_fill"],
                 out=tmp_path, metrics=NO_LPIPS))
    overshoot, mutator, clean = result.methods
    assert all(r["out_of_range"] == 1.0 for r in overshoot.rows)
    info = json.loads(next((result.run_dir / "methods").glob("*overshoot*/method.json")).read_text())
    assert info["out_of_range_items"] == 3
    assert [r["PSNR"] for r in mutator.rows] == [r["PSNR"] for r in clean.rows]
    assert max(r["PSNR"] for r in mutator.rows) < 100


# 8. Unlabelled weights and overwrites ----------------------------------------------------------------------------

def test_8_random_weights_are_marked_in_every_table(tmp_path, capsys):
    celeba = tmp_path / "celeba"
    for i in range(2):
        _save(celeba / "img_align_celeba" / f"00000{i}.jpg", _photo(i))
    (celeba / "list_eval_partition.txt").write_text("000000.jpg 2\n000001.jpg 2\n")
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "misf,telea", "--checkpoint", "misf=random", "--dataset", "celeba", "--data-root",
                 celeba, "--masks", "generated", "--limit", 1, "--size", 32, "--out", runs, "--no-progress", "--no-lpips"],
                capsys)[0] == 0
    for args in (["report"], ["report", "--format", "latex"], ["report", "--paper", "table2"]):
        text = _cli([*args, "--runs", runs], capsys)[1]
        assert "random" in text.lower() and "not the paper" in text.lower(), args
    markdown = _cli(["report", "--runs", runs], capsys)[1]
    assert any(line.startswith("| misf‡") for line in markdown.splitlines())
    paper = _cli(["report", "--runs", runs, "--paper", "table2"], capsys)[1]
    misf_psnr = next(line for line in paper.splitlines() if "| MISF‡" in line)
    assert "◊" in misf_psnr  # the measured CelebA cells say they were measured under another protocol


def test_8_a_fixed_size_model_run_at_another_size_is_marked_in_every_table(tmp_path, capsys):
    """Issue 24: a 256-px protocol with a 512-only model is adapted visibly: method.json records it, every table marks it."""
    runs = tmp_path / "runs"
    methods = f"fixed48={PLUGIN}:native_48,fixed32={PLUGIN}:native_32,free={PLUGIN}:mean_fill"
    assert _cli(["run", "--methods", methods, "--limit", 1, "--size", 32, "--out", runs, "--no-progress", "--no-lpips"],
                capsys)[0] == 0
    flags = {path.parent.name: json.loads(path.read_text())["resized"] for path in runs.glob("*/methods/*/method.json")}
    assert flags == {"fixed48": True, "fixed32": False, "free": False}
    for args, mark in ((["report"], "≈"), (["report", "--format", "latex"], r"$^\approx$")):
        text = _cli([*args, "--runs", runs], capsys)[1]
        assert f"fixed48{mark}" in text and "native size" in text, args
        assert f"fixed32{mark}" not in text and f"free{mark}" not in text, args
    records = load_records(runs)
    from harness.reports.plots import _label

    assert _label(records, "fixed48") == "fixed48≈" and _label(records, "free") == "free"


def test_8_two_checkpoints_of_one_method_never_overwrite_each_other(tmp_path, capsys):
    runs, a, b = tmp_path / "runs", tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("0.2")
    b.write_text("0.8")
    common = ["--limit", 1, "--size", 48, "--out", runs, "--no-progress", "--no-lpips"]
    factory = f"{PLUGIN}:constant_fill"
    assert _cli(["run", "--methods", factory, "--checkpoint", a, *common], capsys)[0] == 0
    code, text = _cli(["run", "--methods", factory, "--checkpoint", b, *common], capsys)
    assert code == 2 and "--name" in text
    assert _cli(["run", "--methods", f"grey80={factory}", "--checkpoint", f"grey80={b}", *common], capsys)[0] == 0
    records = load_records(runs)
    assert sorted(records["method"].unique()) == ["constant-fill", "grey80"]  # the plug-in under its predictor's name
    assert _cli(["run", "--methods", factory, "--checkpoint", b, "--replace", *common], capsys)[0] == 0
    records = load_records(runs)
    assert records.groupby("method")["PSNR"].mean().round(6).nunique() == 1  # both now hold grey 0.8


# 9. Damaged cache entries ----------------------------------------------------------------------------------------

def test_9_damaged_cache_entries_are_misses_that_are_recomputed(tmp_path, capsys):
    from tests.cache_tools import count, flip_payload, newest, write_record, wrong_shape_output

    runs = tmp_path / "runs"
    args = ["run", "--methods", "telea", "--limit", 1, "--size", 48, "--out", runs, "--no-progress", "--no-lpips"]
    assert _cli(args, capsys)[0] == 0
    outputs, metrics = newest("output"), newest("metrics")
    assert len(outputs) == len(metrics) == 3
    flip_payload(outputs[0])  # a damaged prediction ...
    flip_payload(next(m for m in metrics if m.header["key"] == outputs[0].header["key"]))  # ... whose metrics are lost
    wrong_shape_output(outputs[1].header["key"])  # a prediction of another shape
    third = next(m for m in metrics if m.header["key"] == outputs[2].header["key"])
    write_record(third.header, json.dumps({"PSNR": "high", "SSIM": 0.5, "L1": 1.0}).encode())  # an edited metrics entry
    stray = Path(os.environ["HARNESS_CACHE"]) / ".tmp-abandoned"
    stray.write_bytes(b"x")
    os.utime(stray, (time.time() - 7200, time.time() - 7200))

    code, text = _cli(args, capsys)
    assert code == 0 and "damaged cache entries replaced" in text
    assert _cli(["report", "--runs", runs], capsys)[0] == 0
    assert load_records(runs)["PSNR"].notna().sum() == 3
    assert count("output") == 3

    code, text = _cli(["cache", "verify"], capsys)
    assert code == 0 and "0 damaged" in text
    flip_payload(newest("output")[0])
    code, text = _cli(["cache", "verify"], capsys)
    assert code == 1 and "1 damaged" in text
    code, text = _cli(["cache", "prune", "--damaged", "--temp"], capsys)
    assert code == 0 and not stray.exists()
    assert _cli(["cache", "verify"], capsys)[0] == 0
    code, text = _cli(["cache", "info"], capsys)
    assert code == 0 and "telea" in text and "output" in text
    from harness.store import cache_admin

    group = next(p.parent for p in (tmp_path / "cache" / "packs").rglob("index.sqlite"))
    index = sum(p.stat().st_size for p in group.iterdir() if p.name.startswith("index.sqlite"))
    assert index > 0 and f"{group.name} " in text and f"+ index {cache_admin._human(index)}" in text


# 10. Input decoding -------------------------------------------------------------------------------------------------

def test_10_sixteen_bit_grey_is_read_by_its_bit_depth_not_its_maximum(tmp_path):
    values = np.full((8, 8), 200, np.uint16)
    path = tmp_path / "dim16.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    assert read_image(path)[0, 0].tolist() == [1, 1, 1]  # 200 / 257, not 200


def test_10_exif_orientation_is_ignored_as_upstream_but_counted(tmp_path, capsys):
    root = _folder(tmp_path / "data", ["plain.png"])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_photo(1)).save(root / "images" / "rotated.jpg", exif=exif.tobytes())
    code, text = _cli(["run", "--methods", "telea", "--dataset", "folder", "--data-root", root, "--size", 64,
                       "--out", tmp_path / "runs", "--no-progress", "--no-lpips"], capsys)
    assert code == 0 and "EXIF orientation" in text and "1 image" in text
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "run.json").read_text())["exif_oriented"] == ["rotated.jpg"]


# 11. Interrupted runs -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_11_ctrl_c_keeps_finished_items_and_says_how_to_resume(tmp_path, capsys):
    # 1 s per item: on a busy machine (load 15 on 2 cores) 0.3 s let all 12 items finish before
    # the signal landed (exit 0); the signal follows the first record, so a quiet machine waits no longer.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_NO_LPIPS": "1", "MEAN_FILL_DELAY": "1.0"}
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--methods", f"{PLUGIN}:mean_fill", "--limit", "4", "--size", "48",
         "--batch-size", "1", "--out", str(runs), "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell that started the tests in the background hands SIGINT down ignored: give the run a real Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(runs.rglob("records.csv")):
        time.sleep(0.05)
    assert list(runs.rglob("records.csv")), "records must appear before the method finishes"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "rerun" in (out + err) and "kept" in (out + err)
    info = json.loads(next(runs.rglob("method.json")).read_text())
    assert info["complete"] is False
    records = load_records(runs)
    assert 1 <= (records["status"] == "ok").sum() < 12
    assert "incomplete" in _cli(["report", "--runs", runs], capsys)[1]


def test_11_an_image_that_breaks_mid_run_fails_alone(tmp_path):
    root = _folder(tmp_path / "data", ["p.png", "q.png"])
    manifest = build_manifest(RunSpec(dataset="folder", data_root=str(root), size=64, buckets="20-40"))
    (root / "images" / "q.png").write_bytes(b"truncated")
    result = Evaluation(manifest, MeanFill(), "mean-fill", Cache(), batch_size=2, metrics=NO_LPIPS).run(
        manifest.items, show_progress=False
    )
    assert [f.item_id.split("|")[0] for f in result.failures] == ["q.png"]
    assert [r["image_id"] for r in result.rows if r["status"] == "ok"] == ["p.png"]


# 12. CSV injection ---------------------------------------------------------------------------------------------------

def test_12_formula_prefixes_are_neutralised_in_csv_and_read_back_intact(tmp_path):
    names = ["=SUM(A1).png", "+1.png", "-2.png", "@cmd.png"]
    root = _folder(tmp_path / "data", names)
    result = run(RunConfig.of(RunSpec(dataset="folder", data_root=str(root), size=64, buckets="20-40"), ["telea"],
                 out=tmp_path / "runs", metrics=NO_LPIPS))
    for path in [result.run_dir / "manifest.csv", *result.run_dir.rglob("records.csv")]:
        for line in path.read_text().splitlines()[1:]:
            assert not any(cell and cell[0] in "=+-@" for cell in line.split(",")), (path.name, line)
    assert sorted(load_records(tmp_path / "runs")["image_id"]) == sorted(names)


def test_a_check_of_a_warm_run_scores_nothing_and_prints_its_verdict_on_stdout(tmp_path, capsys):
    expected = json.loads((ROOT / "results" / "expected" / "sample-classical.json").read_text())
    expected["spec"].update(limit=1, size=48)
    expected["aggregates"] = []
    path, runs = tmp_path / "small.json", tmp_path / "runs"
    path.write_text(json.dumps(expected))
    assert _cli(["check", "--expected", path, "--runs", runs, "--write", "--no-progress"], capsys)[0] == 0
    assert main(["check", "--expected", str(path), "--runs", str(runs), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "cells within tolerance" in out and "cells within tolerance" not in err
    run_dir = next(p for p in runs.iterdir() if p.is_dir())
    for method_json in run_dir.glob("methods/*/method.json"):
        counts = json.loads(method_json.read_text())
        assert counts["predicted"] == 0 and counts["scored"] == 0, method_json
