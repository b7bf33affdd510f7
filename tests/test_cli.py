"""The command line end to end on the embedded default."""
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import parse_checkpoints

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "results" / "expected" / "sample-classical.json"


def test_run_then_report_markdown_latex_csv(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    args = ["--methods", "telea,navier-stokes,biharmonic", "--limit", "1", "--size", "64", "--out", runs, "--no-progress"]
    assert main(["run", *args, "--no-lpips"]) == 0
    out = capsys.readouterr().out
    assert "| telea" in out and "0-20 PSNR↑" in out
    assert main(["report", "--runs", runs, "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert latex.count(r"\textbf{") >= 9  # one best value per column
    assert main(["report", "--runs", runs, "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("run,dataset,method,bucket,n,failures,PSNR") and len(csv) == 1 + 3 * 3
    grid = tmp_path / "grid.png"
    assert main(["compare", "--runs", runs, "--methods", "telea,biharmonic", "--samples", "2", "--output", str(grid)]) == 0
    from PIL import Image

    width, height = Image.open(grid).size
    from harness.reports.grids import _font, _line_height

    line = _line_height(_font(12))  # 12 px text at 64 px panels: the header and each row's caption
    assert line >= 20
    assert width == 4 * 64 + 3 * 4 and height == line + 2 * (line + 64 + 12)  # input, 2 methods, GT; 2 rows


def test_report_paper_layout_and_statistics(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["run", "--methods", "telea,biharmonic", "--limit", "3", "--size", "64", "--out", runs, "--no-progress", "--no-lpips"]) == 0
    capsys.readouterr()
    assert main(["report", "--runs", runs, "--paper", "table2", "--extra-methods", "telea"]) == 0
    assert "MISF" in capsys.readouterr().out
    assert main(["report", "--runs", runs, "--confidence"]) == 0
    assert "ci_low" in capsys.readouterr().out
    assert main(["report", "--runs", runs, "--paired", "telea,biharmonic"]) == 0
    assert "p_wilcoxon" in capsys.readouterr().out


def test_unknown_method_and_missing_dataset_are_clear_errors(tmp_path, capsys):
    assert main(["run", "--methods", "nope", "--limit", "1", "--out", str(tmp_path)]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["run", "--methods", "telea", "--dataset", "places2", "--out", str(tmp_path)]) == 2
    assert "HARNESS_DATA_PLACES2" in capsys.readouterr().err


def test_checkpoint_arguments():
    assert parse_checkpoints(["a.pth"], ["misf", "lama"]) == {"misf": "a.pth", "lama": "a.pth"}
    assert parse_checkpoints(["lama=l.ckpt", "m.pth"], ["misf", "lama"]) == {"lama": "l.ckpt", "misf": "m.pth"}


@pytest.mark.slow
def test_check_passes_on_committed_expectations_and_fails_on_perturbed_copy(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    assert main(["check", "--expected", str(EXPECTED), "--runs", runs, "--no-progress"]) == 0
    data = json.loads(EXPECTED.read_text())
    data["aggregates"][0]["PSNR"] += 0.05
    perturbed = tmp_path / "perturbed.json"
    perturbed.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["check", "--expected", str(perturbed), "--runs", runs, "--no-run"]) == 1
    assert "Regressions" in capsys.readouterr().out


def test_misf_end_to_end_from_an_official_format_checkpoint_and_fig7(tmp_path, capsys):
    import torch

    from misf.networks import build_generator

    checkpoint = tmp_path / "celebA_InpaintingModel_gen.pth"
    torch.save({"iteration": 1, "generator": build_generator("misf").state_dict()}, checkpoint)
    runs = str(tmp_path / "runs")
    common = ["--limit", "1", "--size", "64", "--no-progress"]
    assert main(["run", "--methods", "misf", "--checkpoint", str(checkpoint), "--out", runs, "--no-lpips", *common]) == 0
    assert "| misf" in capsys.readouterr().out
    out = tmp_path / "fig7"
    assert main(["fig7", "--checkpoint", "random", "--samples", "1", "--size", "64", "--output", str(out)]) == 0
    values = (out / "fig7_values.csv").read_text().splitlines()
    assert values[0].startswith("item_id,bucket,hole_ratio,ncc_pre,ncc_post") and len(values) == 1 + 3
    assert (out / "fig7.png").stat().st_size > 10_000


def test_several_profiles_score_one_set_of_predictions_side_by_side(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    args = ["run", "--methods", "telea", "--profile", "paper,hole", "--limit", "1", "--size", "48", "--out", runs,
            "--no-progress", "--no-lpips"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "telea: 3 scored, 0 failed, 3 predicted" in err and "telea: 3 scored, 0 failed, 0 predicted" in err
    assert main(["report", "--runs", runs, "--profiles", "paper,hole", "--format", "csv"]) == 0
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(table["metric"]) == {"PSNR", "SSIM", "L1", "PSNR (hole)", "L1 (hole)"}
    assert table.loc[table["metric"] == "PSNR (hole)", "paper"].isna().all()
    assert (table.loc[table["metric"] == "PSNR (hole)", "hole"] < table.loc[table["metric"] == "PSNR", "paper"].to_numpy()).all()


def test_every_option_has_help_and_every_command_an_example(capsys):
    import argparse

    from harness.cli.app import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        bare = [a.dest for a in command._actions if not a.help and not isinstance(a, argparse._HelpAction)]
        assert not bare, f"harness {name}: options without help: {bare}"
        assert "examples:" in command.format_help() and f"harness {name}" in command.epilog
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("harness ")
    from harness.metrics import profiles

    assert ", ".join(profiles()) in " ".join(commands["run"].format_help().split())  # --profile lists its choices
