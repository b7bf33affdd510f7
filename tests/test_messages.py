"""A user's mistakes end in one ``error:`` line and exit code 2, never a traceback (issue 14)."""
import errno
import json
import os
from pathlib import Path

import pytest
import torch

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--limit", "1", "--size", "48", "--no-progress", "--no-lpips"]


def _fails_cleanly(args, capsys) -> str:
    """Exit 2 with exactly one line on stderr, starting ``error:``, and nothing on stdout."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse's own errors (bad types)
        code = exit_.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:") and not line.startswith(" ")]
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    assert len(lines) == 1 and "error:" in lines[0], err
    assert out == ""
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run of telea and biharmonic at 48 px, plus a second run holding only telea."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE", str(folder / "cache"))
        assert main(["run", "--methods", "telea", "--out", str(folder), "--seed", "1", *FAST]) == 0
        assert main(["run", "--methods", "telea,biharmonic", "--out", str(folder), *FAST]) == 0
    return folder


@pytest.mark.parametrize("args, expected", [
    (["--paired", "telea"], "--paired takes two different methods"),
    (["--paired", "telea,misf"], "no records of misf"),
])
def test_report_paired(runs, capsys, args, expected):
    capsys.readouterr()
    assert expected in _fails_cleanly(["report", "--runs", runs, *args], capsys)


@pytest.mark.parametrize("zoom, expected", [("40,40,30", "must lie inside the 48x48"), ("1,2", "X,Y,SIDE"),
                                            ("0,0,-4", "must lie inside")])
def test_compare_zoom(runs, capsys, zoom, expected, tmp_path):
    capsys.readouterr()
    args = ["compare", "--runs", runs, "--methods", "telea,biharmonic", "--zoom", zoom, "--output", tmp_path / "g.png"]
    assert expected in _fails_cleanly(args, capsys)


def test_compare_picks_the_run_that_holds_the_methods(runs, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(runs / "cache"))
    capsys.readouterr()  # the first run (seed 1) lacks biharmonic
    grid = tmp_path / "grid.png"
    assert main(["compare", "--runs", str(runs), "--methods", "telea,biharmonic", "--samples", "2", "--output", str(grid)]) == 0
    assert "-s0-" in capsys.readouterr().err and grid.is_file()
    assert "holds all of telea, misf" in _fails_cleanly(["compare", "--runs", runs, "--methods", "telea,misf"], capsys)


def test_compare_scores_must_exist(runs, capsys, tmp_path):
    capsys.readouterr()
    args = ["compare", "--runs", runs, "--methods", "telea", "--scores", "PSNR,FID", "--output", tmp_path / "g.png"]
    assert "--scores: no FID" in _fails_cleanly(args, capsys)


@pytest.mark.parametrize("extra, expected", [
    (["--buckets", "20-10"], "bad bucket '20-10'"),
    (["--limit", "0"], "--limit: must be at least 1"),
    (["--masks", "bogus"], "unknown mask set 'bogus'"),
    (["--device", "cuda:7" if torch.cuda.is_available() else "cuda"], "--device cuda"),
    (["--device", "toaster"], "not a device name"),
    (["--methods", "nope"], "unknown method 'nope'"),
])
def test_run_flags(tmp_path, capsys, extra, expected):
    args = ["run", "--methods", "telea", "--out", tmp_path, *FAST, *extra]
    assert expected in _fails_cleanly(args, capsys)


def _checkpoint_files(folder: Path) -> dict[str, Path]:
    (folder / "cat.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (folder / "empty.pth").write_bytes(b"")
    torch.save({"generator": {"a": torch.zeros(1)}}, folder / "wrong.pth")
    torch.save({"state_dict": {"generator.a": torch.zeros(1)}}, folder / "wrong.ckpt")
    return {name: folder / name for name in ("cat.jpg", "empty.pth", "wrong.pth", "wrong.ckpt")}


@pytest.mark.parametrize("method, checkpoint, expected", [
    ("misf", "rfrnet=/x", "'rfrnet' is not a method or label of this run (misf)"),
    ("misf", "cat.jpg", "is not a PyTorch checkpoint"),
    ("misf", "empty.pth", "is empty (0 bytes)"),
    ("rfrnet", "wrong.pth", "is not a RFR-Net generator checkpoint: 114 missing keys"),
    ("ctsdg", "wrong.pth", "is not a CTSDG generator checkpoint"),
    ("lama", "wrong.ckpt", "is not a big-lama generator checkpoint"),
    ("edgeconnect", "hf://owner/repo/EdgeModel_gen.pth", "an hf:// URL names one file"),
])
def test_checkpoints(tmp_path, capsys, monkeypatch, method, checkpoint, expected):
    monkeypatch.setenv("HARNESS_PROGRESS_SECONDS", "3600")  # no periodic line on a slow machine
    files = _checkpoint_files(tmp_path)
    given = str(files[checkpoint]) if checkpoint in files else checkpoint
    fast = [a for a in FAST if a != "--no-progress"]  # progress on (plain lines: stderr is captured) ends silently
    args = ["run", "--methods", method, "--checkpoint", given, "--out", tmp_path / "runs", *fast]
    assert expected in _fails_cleanly(args, capsys)


@pytest.mark.parametrize("content, expected", [
    ([1, 2], "got a list"),
    ({"methods": ["telea"], "aggregates": []}, "no spec"),
    ({"spec": {}, "methods": ["telea"], "aggregates": [], "tolerances": {"PSNR": "ok"}}, "non-negative numbers"),
])
def test_check_expectations_file(tmp_path, capsys, content, expected):
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(content))
    assert expected in _fails_cleanly(["check", "--expected", path, "--runs", tmp_path, "--no-run"], capsys)


def test_runs_folder_inside_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    message = _fails_cleanly(["run", "--methods", "telea", "--out", tmp_path / "file" / "runs", *FAST], capsys)
    assert "cannot write" in message and "file" in message and "--out" in message


@pytest.mark.parametrize("number, words", [(errno.EACCES, "not writable"), (errno.EROFS, "read-only"),
                                           (errno.ENOSPC, "no space left")])
def test_unwritable_runs_folder_or_cache(tmp_path, capsys, monkeypatch, number, words):
    """Read-only and full file systems, simulated (tests run as root, where chmod does not refuse)."""
    import harness.store.atomic

    def refuse(fd):
        raise OSError(number, os.strerror(number), str(tmp_path / "runs" / "spec.json"))

    monkeypatch.setattr(harness.store.atomic.os, "fsync", refuse)
    message = _fails_cleanly(["run", "--methods", "telea", "--out", tmp_path / "runs", *FAST], capsys)
    assert words in message and "$HARNESS_CACHE" in message


def test_cache_inside_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "file" / "cache"))
    message = _fails_cleanly(["run", "--methods", "telea", "--out", tmp_path / "runs", *FAST], capsys)
    assert "cannot write" in message and str(tmp_path / "file") in message


def test_a_programming_error_keeps_its_traceback(monkeypatch):
    """Only user-facing errors become exit 2: a KeyError from a bug is not swallowed."""
    import harness.cli.list

    def bug(args):
        return {}["missing"]

    monkeypatch.setattr(harness.cli.list, "cmd_list", bug)
    with pytest.raises(KeyError):
        main(["list"])


def test_plugin_errors_name_the_plugin(tmp_path, capsys, monkeypatch):
    (tmp_path / "myplug.py").write_text("def factory(checkpoint=None, device=None):\n    return {}['weights']\n"
                                        "def wrong():\n    return 3\n")
    monkeypatch.chdir(tmp_path)
    message = _fails_cleanly(["run", "--methods", "myplug:factory", "--out", tmp_path / "runs", *FAST], capsys)
    assert "plug-in myplug:factory" in message and "KeyError" in message and "myplug.py:2" in message
    message = _fails_cleanly(["run", "--methods", "myplug:wrong", "--out", tmp_path / "runs", *FAST], capsys)
    assert "plug-in myplug:wrong returned a int, not a harness Predictor" in message
    message = _fails_cleanly(["run", "--methods", "nomodule:factory", "--out", tmp_path / "runs", *FAST], capsys)
    assert "cannot import 'nomodule'" in message and "--include-path" in message
