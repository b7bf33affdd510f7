"""A run's mistakes are answered before the heavy imports, in one line with the fix."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "torchvision", "torch_fidelity", "sklearn", "pandas")

# Each run's flags with a fragment its one-line error must hold.
MISTAKES = [
    (["--methods", "telae"], "Did you mean 'telea'?"),
    (["--methods", "telea", "--dataset", "celbea"], "Did you mean 'celeba'?"),
    (["--methods", "telea", "--masks", "nvidai"], "Did you mean 'nvidia'?"),
    (["--methods", "telea", "--profile", "paper,papr"], "Did you mean 'paper'?"),
    (["--methods", "telea", "--set-metrics", "FDI"], "unknown set-level metric 'FDI'"),
    (["--methods", "telea", "--data-root", "/no/such/root"], "--data-root /no/such/root: no such file or folder"),
    (["--methods", "misf", "--checkpoint", "misf=/no/such.pth"], "--checkpoint /no/such.pth: no such file or folder"),
    (["--methods", "misf", "--checkpoint", "rfrnet=/x"], "'rfrnet' is not a method or label of this run (misf)"),
    (["--methods", "nosuchplug:factory"], "cannot import 'nosuchplug' for nosuchplug:factory"),
    (["--methods", "telea", "--include-path", "/no/such/dir"], "--include-path /no/such/dir: no such folder"),
    (["--methods", "telea", "--dataset", "celeba"], "--dataset celeba needs --data-root DIR or $HARNESS_DATA_CELEBA"),
    (["--methods", "telea", "--protocol", "mat-places512-large"],
     "--dataset places365-val needs --data-root DIR or $HARNESS_DATA_PLACES365_VAL"),
]

PROBE = """
import json, sys
from harness.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps([code, [m for m in json.loads(sys.argv[2]) if m in sys.modules]]))
"""


@pytest.mark.parametrize("flags,expected", MISTAKES, ids=[" ".join(f) for f, _ in MISTAKES])
def test_a_mistake_is_one_line_before_any_heavy_import(tmp_path, flags, expected):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["run", *flags]), json.dumps(HEAVY)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**_env(tmp_path), "COLUMNS": "400"})
    code, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert code == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert loaded == [], f"imported before answering: {loaded}"


def test_a_message_is_printed_as_written_not_as_emoji_codes(tmp_path):
    """rich would turn ':factory:' into an emoji; messages keep the user's text."""
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--methods", "syntaxplug:factory:"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env(tmp_path))
    assert proc.returncode == 2
    assert "syntaxplug:factory:" in proc.stderr and "\N{FACTORY}" not in proc.stderr


def _env(tmp_path):
    import os

    mine = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_DATA_")}  # no dataset given by the machine
    return {**mine, "PYTHONPATH": str(ROOT), "HARNESS_CACHE": str(tmp_path / "cache"),
            "HARNESS_RUNS": str(tmp_path / "runs")}


@pytest.mark.parametrize("argv,usage,hint", [
    (["run", "--metods", "telea"], "usage: harness run", "did you mean --methods?"),
    (["report", "--formt", "csv"], "usage: harness report", "did you mean --format?"),
])
def test_an_unknown_flag_gets_its_subcommands_usage_and_the_closest_flag(capsys, argv, usage, hint):
    from harness.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and usage in err and hint in err


def test_wrong_places_are_named_with_the_setting_that_points_there(tmp_path, capsys, monkeypatch):
    from harness.cli import main

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "file" / "cache"))
    assert main(["run", "--methods", "telea", "--out", str(tmp_path / "runs")]) == 2
    assert "point $HARNESS_CACHE" in capsys.readouterr().err
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    assert main(["run", "--methods", "telea", "--out", str(tmp_path / "file" / "runs")]) == 2
    assert "point --out" in capsys.readouterr().err
    (tmp_path / "masks").mkdir()
    assert main(["run", "--methods", "telea", "--masks", "folder", "--mask-root", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "runs"), "--limit", "1", "--no-progress", "--no-lpips"]) == 2
    assert "holds no mask images" in capsys.readouterr().err


def test_a_report_that_selects_nothing_is_an_error_naming_the_runs_there(tmp_path, capsys):
    from harness.cli import main

    assert main(["report", "--runs", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["report", "--runs", str(tmp_path)]) == 2
    assert "no runs under" in capsys.readouterr().err
    assert main(["run", "--methods", "telea", "--limit", "1", "--size", "48", "--no-progress", "--no-lpips",
                 "--out", str(tmp_path)]) == 0
    run = next(p.name for p in tmp_path.iterdir() if (p / "spec.json").is_file())
    capsys.readouterr()
    assert main(["report", "--runs", str(tmp_path), "--run", "nosuchrun"]) == 2
    assert f"no records match --run nosuchrun under {tmp_path}; runs there: {run}" in capsys.readouterr().err
