"""A plain (non-editable) install carries everything the command line reads: built as a wheel,
installed into a folder outside the checkout, it renders the paper's Table 2 from its package data."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", ".venv")


@pytest.mark.slow
def test_an_installed_wheel_renders_the_paper_tables_outside_the_checkout(tmp_path):
    source = tmp_path / "source"  # a copy, so building leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=SKIP)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "wheels"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "wheels").glob("misf_harness-*.whl"))
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HARNESS_RUNS": str(elsewhere / "runs")}
    probe = subprocess.run([sys.executable, "-c", "import harness, misf.paper.tables as t; print(harness.__file__); "
                            "print(t.PAPER_CSV)"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert all(Path(line).is_relative_to(site) for line in probe.stdout.split()), probe.stdout  # not the checkout
    table = subprocess.run([sys.executable, "-m", "harness", "report", "--paper", "table2"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0, table.stderr
    rows = [line.split(",") for line in (ROOT / "misf" / "paper" / "paper_tables.csv").read_text().splitlines()[1:]]
    misf_psnr = [float(r[5]) for r in rows if r[0] == "table2" and r[3] == "MISF" and r[4] == "PSNR"]
    assert len(misf_psnr) == 7  # Places2 and CelebA per bucket, Dunhuang
    shown = re.sub(r"\*\*|</?u>", "", table.stdout)  # best and second best are bold and underlined
    assert all(f"{value:.3f}°" in shown for value in misf_psnr), table.stdout  # published values, marked °
