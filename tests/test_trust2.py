"""The second adversarial pass (issue 21): six ways to a wrong or lost result, and rough edges.

Each test names the finding it guards; each failed on the code before the fix."""
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "tests.plugin_methods"
QUICK = ["--limit", "1", "--size", "48", "--no-progress", "--no-lpips"]


def _cli(args, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# 1. A plug-in cannot end the run ------------------------------------------------------------

QUITTERS = ["quit_sys_exit", "quit_os_exit", "quit_keyboard_interrupt", "quit_in_library"]


@pytest.mark.slow
def test_1_a_plugin_that_ends_the_process_fails_its_items_and_the_run_goes_on(tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    quitters = [f"q{i}={PLUGIN}:{factory}" for i, factory in enumerate(QUITTERS)]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--methods", ",".join(["telea", *quitters, f"ok={PLUGIN}:mean_fill"]),
         "--out", str(runs), *QUICK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr  # the run went on; 3: the quitters scored no item
    assert "Traceback" not in proc.stderr
    results = json.loads(next(runs.rglob("results.json")).read_text())
    assert sorted(results["methods"]) == sorted(["ok", "telea", "q0", "q1", "q2", "q3"])
    for i, factory in enumerate(QUITTERS):
        records = pd.read_csv(next(runs.rglob(f"methods/q{i}/records.csv")))
        assert (records["status"] == "failed").all() and records["reason"].str.contains("PluginExit").all(), factory
    assert (pd.read_csv(next(runs.rglob("methods/ok/records.csv")))["status"] == "ok").all()
    assert "| ok" in proc.stdout  # the table is printed


def test_1_a_factory_that_calls_sys_exit_is_a_one_line_error(tmp_path, capsys):
    code, out = _cli(["run", "--methods", f"{PLUGIN}:exit_while_building", "--out", tmp_path, *QUICK], capsys)
    assert code == 2 and "sys.exit(3)" in out and "Traceback" not in out


# 3. A label is a name, not a path -----------------------------------------------------------

@pytest.mark.parametrize("name", ["..", ".", "a/b", "..\\x", "tab\there", "new\nline", "x" * 300, "a=b", ""])
def test_3_a_name_that_is_not_a_name_is_refused_in_one_line(tmp_path, capsys, name):
    code, out = _cli(["run", "--methods", "telea", "--name", name, "--out", tmp_path / "runs", *QUICK], capsys)
    assert code == 2 and "not a usable name" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("records.csv"))


def test_3_labels_in_method_entries_are_checked_too(tmp_path, capsys):
    code, out = _cli(["run", "--methods", "../up=telea", "--out", tmp_path, *QUICK], capsys)
    assert code == 2 and "not a usable name" in out


# 4. --combine pools data, never conventions or the same image twice ----------------------------

def test_4_combine_keeps_profiles_apart_and_names_every_protocol(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "telea", "--profile", "paper,lama", "--out", runs, *QUICK], capsys)[0] == 0
    code, out = _cli(["report", "--runs", runs, "--combine", "--format", "csv"], capsys)
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert (table["n"] == 1).all()  # each image once per table, not once per profile
    assert sorted(table["dataset"].unique()) == ["sample (profile lama · 48 px · resize pil-bilinear)",
                                                 "sample (profile paper · 48 px · resize pil-bilinear)"]
    separate = pd.read_csv(io.StringIO(_cli(["report", "--runs", runs, "--format", "csv"], capsys)[1]))
    assert np.allclose(sorted(table["SSIM"]), sorted(separate["SSIM"]))  # each profile's own SSIM, none averaged
    assert table["SSIM"].nunique() > len(table) // 2
    code, text = _cli(["report", "--runs", runs, "--combine"], capsys)
    assert text.count("profile lama") >= 2 and text.count("profile paper") >= 2  # the header and the protocol line


def test_4_combine_refuses_to_count_an_image_twice(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)[0] == 0
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK[2:], "--limit", "2"], capsys)[0] == 0
    code, out = _cli(["report", "--runs", runs, "--combine"], capsys)
    assert code == 2 and "more than once" in out and "Traceback" not in out
    runs_seen = {p.parent.name for p in runs.rglob("spec.json")}
    assert all(name in out for name in runs_seen)


# 5. Statistics below their minimum n say so instead of deciding --------------------------------

def test_5_paired_and_confidence_below_their_minimum_n_decide_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "telea,biharmonic", "--out", runs, *QUICK], capsys)[0] == 0
    code, out = _cli(["report", "--runs", runs, "--paired", "telea,biharmonic", "--format", "csv"], capsys)
    paired = pd.read_csv(io.StringIO(out))
    assert code == 0 and (paired["n_pairs"] == 1).all()
    assert paired["better"].str.startswith("undecided: 1 pair(s)").all()
    assert paired[["ci_low", "ci_high", "p_wilcoxon"]].isna().all().all()
    code, out = _cli(["report", "--runs", runs, "--confidence", "--format", "csv"], capsys)
    confidence = pd.read_csv(io.StringIO(out))
    assert code == 0 and (confidence["n"] == 1).all()
    assert confidence[["ci_low", "ci_high"]].isna().all().all() and confidence["note"].str.contains("n < 4").all()


def test_5_the_minimum_pairs_are_where_a_test_can_first_decide():
    from scipy import stats as scipy_stats

    from harness.reports.stats import MIN_INTERVAL_ITEMS, MIN_PAIRS

    smallest_p = [scipy_stats.wilcoxon(np.arange(1.0, n + 1)).pvalue for n in (MIN_PAIRS - 1, MIN_PAIRS)]
    assert smallest_p[0] > 0.05 > smallest_p[1]
    tail = lambda n: float(n) ** -n  # noqa: E731  (chance of the resample of n copies of the smallest value)
    assert tail(MIN_INTERVAL_ITEMS - 1) > 0.025 > tail(MIN_INTERVAL_ITEMS)


# 6. Set-level metrics have a minimum and a reliable size ---------------------------------------

def test_6_set_metrics_of_a_few_items_are_refused_or_marked():
    from harness.engine.features import set_rows
    from harness.metrics.registry import set_metric

    metrics = [set_metric(name) for name in ("FID", "KID", "P-IDS", "U-IDS")]
    rng = np.random.default_rng(0)
    real = rng.random((2, 16))
    two = {r["metric"]: r for r in set_rows("0-20", real, real.copy(), metrics, 0)}
    assert all(np.isnan(r["value"]) and r["note"].startswith("not computed: 2 item(s)") for r in two.values())
    real, fake = rng.random((8, 16)), rng.random((8, 16))
    eight = {r["metric"]: r for r in set_rows("0-20", real, fake, metrics, 0)}
    assert all(np.isfinite(r["value"]) and r["note"].startswith("biased") for r in eight.values())  # reports mark ~
    assert "fewer than 16" in eight["U-IDS"]["note"] and "fewer than 1000" in eight["KID×1000"]["note"]
    big = rng.random((40, 16))
    assert set_rows("0-20", big, big + 0.1, metrics[2:], 0)[0]["note"] == ""  # 40 items per class > 16 dims


# harness check: a check that compares nothing fails; every expected metric is accounted for ------

SPEC = {"dataset": "sample", "limit": 1, "size": 48}


def _expectations(path: Path, aggregates, **extra) -> Path:
    path.write_text(json.dumps({"spec": SPEC, "methods": ["telea"], "aggregates": aggregates, **extra}))
    return path


@pytest.fixture
def telea_run(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)[0] == 0
    good = _expectations(tmp_path / "good.json", [])
    assert _cli(["check", "--expected", good, "--runs", runs, "--no-run", "--write"], capsys)[0] == 0
    return runs, json.loads(good.read_text())


def test_check_with_every_metric_null_compares_nothing_and_fails(tmp_path, capsys, telea_run):
    runs, written = telea_run
    cells = [{**cell, **{m: None for m in ("PSNR", "SSIM", "L1", "LPIPS") if m in cell}} for cell in written["aggregates"]]
    nulls = _expectations(tmp_path / "nulls.json", cells)
    code, out = _cli(["check", "--expected", nulls, "--runs", runs, "--no-run"], capsys)
    assert code == 1 and "no metric value was compared" in out
    assert "PSNR: not checked" in out and "SSIM: not checked" in out


def test_check_reports_every_expected_metric_as_checked_or_not(tmp_path, capsys, telea_run):
    runs, written = telea_run
    cells = [{**cell, "LPIPS": None} for cell in written["aggregates"]]
    partial = _expectations(tmp_path / "partial.json", cells)
    code, out = _cli(["check", "--expected", partial, "--runs", runs, "--no-run"], capsys)
    assert code == 0 and "PSNR: checked in 3 cell(s)" in out and "LPIPS: not checked" in out


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(aggregates=[]), "no metric value was compared"),
    (lambda d: d.update(aggregates=[{"method": "telea", "bucket": "0-20", "n": 1, "failures": 0}]), "no metric value"),
    (lambda d: d["spec"].update(size="48"), "size is '48', not int"),
    (lambda d: d["spec"].update(sise=48), "unknown key(s) sise"),
    (lambda d: d["aggregates"][0].update(PNSR=20.0), "'PNSR', which is no metric"),
    (lambda d: d["aggregates"].append(["telea"]), "not an object with method and bucket"),
])
def test_a_malformed_expectations_file_is_one_line_not_a_traceback(tmp_path, capsys, telea_run, edit, words):
    runs, written = telea_run
    edit(written)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(written))
    code, out = _cli(["check", "--expected", path, "--runs", runs, "--no-run"], capsys)
    assert code in (1, 2) and words in out and "Traceback" not in out


def test_check_on_other_data_than_the_expectations_fails(tmp_path, capsys, telea_run):
    runs, written = telea_run
    written["data_fingerprint"] = "0" * 64
    path = tmp_path / "other.json"
    path.write_text(json.dumps(written))
    code, out = _cli(["check", "--expected", path, "--runs", tmp_path / "fresh"], capsys)
    assert code == 1 and "the data differ" in out


# torchrun (OMP_NUM_THREADS=1) and one process (many threads) score alike, bit for bit ---------------

def test_item_metrics_do_not_depend_on_the_thread_count():
    import torch
    from types import SimpleNamespace

    from harness.metrics.functional import l1_hole_percent, l1_percent, ssim_torch, truncate_uint8

    generator = torch.Generator().manual_seed(0)
    truth, composite = (torch.rand(1, 3, 256, 256, generator=generator) for _ in range(2))
    masks = (torch.rand(1, 1, 256, 256, generator=generator) > 0.5).float()
    views = SimpleNamespace(composite=composite, truth=truth, masks=masks, quantised=truncate_uint8(composite, truth))
    threads, values = torch.get_num_threads(), {}
    try:
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            values[count] = [f(views) for f in (l1_percent, l1_hole_percent, ssim_torch)]
    finally:
        torch.set_num_threads(threads)
    assert values[1] == values[2] == values[3]  # exactly: the records are written with every bit
    reference = float((composite.double() - truth.double()).abs().mean() * 100)
    assert values[1][0][0] == pytest.approx(reference, rel=1e-6)


# Hand-edited run folders: every doubtful file is refused in one line naming it ---------------------

@pytest.fixture
def one_run(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)[0] == 0
    return runs, next(runs.rglob("methods/telea"))


def _edit_records(folder: Path, edit) -> None:
    path = folder / "records.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    path.write_text(edit(frame).to_csv(index=False))


@pytest.mark.parametrize("edit, words", [
    (lambda f: f.assign(PSNR=["inf"] * len(f)), "PSNR holds inf"),
    (lambda f: f.assign(PSNR=["1e300"] * len(f)), "PSNR holds 1e+300"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "appears more than once"),
    (lambda f: f.assign(item_id=["ghost.png"] + list(f["item_id"][1:])), "ghost.png is not in the run's manifest"),
])
def test_hand_edited_records_are_refused_naming_the_file(one_run, capsys, edit, words):
    runs, folder = one_run
    _edit_records(folder, edit)
    code, out = _cli(["report", "--runs", runs], capsys)
    assert code == 2 and words in out and "records.csv" in out and "Traceback" not in out


@pytest.mark.parametrize("name, text, words", [
    ("method.json", "{not json", "method.json: not JSON"),
    ("method.json", "[]", "method.json: not a method's description"),
    ("spec.json", "[]", "spec.json: not a run spec: a JSON list"),
])
def test_a_damaged_method_or_spec_file_is_named(one_run, capsys, name, text, words):
    runs, folder = one_run
    (folder / name if name == "method.json" else folder.parents[1] / name).write_text(text)
    code, out = _cli(["report", "--runs", runs], capsys)
    assert code == 2 and words in out and "Traceback" not in out


# Rough edges: leftovers -------------------------------------------------------------------------

def test_a_rerun_removes_the_temporary_files_of_killed_writers_but_not_of_live_ones(one_run, capsys):
    import socket

    runs, folder = one_run
    host = socket.gethostname()
    dead = folder / f".tmp-{host}-{2 ** 22 + 12345}-abc"  # above Linux's default pid_max: no such process
    live = folder.parents[1] / f".tmp-{host}-{os.getpid()}-def"
    for path in (dead, live):
        path.write_text("partial")
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)[0] == 0
    assert not dead.exists() and live.exists()
    old = time.time() - 3600
    os.utime(live, (old, old))
    assert _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)[0] == 0
    assert not live.exists()


# Rough edges: odd inputs ------------------------------------------------------------------------

def test_tiny_images_are_noted_and_broken_links_are_input_failures(tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(images / "dot.png")
    Image.fromarray(np.full((50, 400, 3), 90, np.uint8)).save(images / "strip.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(images / "fine.png")
    (images / "gone.png").symlink_to(tmp_path / "nowhere.png")
    runs = tmp_path / "runs"
    code, out = _cli(["run", "--methods", "telea", "--dataset", "folder", "--data-root", tmp_path / "data",
                      "--out", runs, "--limit", "4", "--size", "128", "--no-progress", "--no-lpips"], capsys)
    assert code == 0
    assert "2 images far smaller than 128 px" in " ".join(out.split())  # 64 px is not far smaller: fine.png
    summary = json.loads(next(runs.rglob("run.json")).read_text())
    assert sorted(summary["upscaled"]) == ["dot.png (1x1)", "strip.png (400x50)"]
    failures = pd.read_csv(next(runs.rglob("input_failures.csv")))
    assert failures["item_id"].str.startswith("gone.png").any()


# 2. A pack record with a damaged header is counted and recomputed, never a crash loop ----------------

@pytest.mark.parametrize("header", [["kind", "output"], {"kimd": "output", "key": "x"}, {"kind": "output"}])
def test_2_a_record_with_an_invalid_header_is_skipped_and_counted_by_runs_and_verify(one_run, capsys, header):
    import zlib as _zlib

    from harness.store.cache import HEAD, MAGIC

    runs, _ = one_run
    pack = next(p for p in Path(os.environ["HARNESS_CACHE"]).glob("packs/*/*.pack") if not p.parent.name.startswith("feat-"))
    data = json.dumps(header).encode()
    pack.write_bytes(pack.read_bytes() + HEAD.pack(MAGIC, len(data), 0, _zlib.crc32(b"", _zlib.crc32(data))) + data)
    code, out = _cli(["run", "--methods", "telea", "--out", runs, *QUICK], capsys)
    assert code == 0 and "1 damaged cache entry replaced" in out and "Traceback" not in out
    code, out = _cli(["cache", "verify"], capsys)
    assert code == 1 and "1 damaged entries" in out and "prune --damaged" in out
    assert _cli(["cache", "prune", "--damaged"], capsys)[0] == 0
    assert _cli(["cache", "verify"], capsys)[0] == 0


@pytest.mark.slow
def test_one_thread_and_several_write_the_same_records_at_256_px(tmp_path):
    """What torchrun changes on the CPU (OMP_NUM_THREADS=1 per rank) leaves the records as they are."""
    args = ["run", "--methods", "telea", "--limit", "1", "--no-progress", "--no-lpips"]
    folders = {}
    for threads in ("1", "2"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": threads, "HARNESS_CACHE": str(tmp_path / threads)}
        out = tmp_path / f"runs-{threads}"
        proc = subprocess.run([sys.executable, "-m", "harness", *args, "--out", str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        folders[threads] = next(out.rglob("records.csv")).read_bytes()
    assert folders["1"] == folders["2"]
