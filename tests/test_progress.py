"""Long runs you can watch: progress on stderr (timestamped lines when it is not a terminal),
the table alone on stdout."""
import io
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from harness.engine.progress import Display, display, track

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ")


def test_redirected_run_writes_timestamped_lines_and_keeps_stdout_for_the_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_NO_LPIPS": "1", "MEAN_FILL_DELAY": "0.4",
           "HARNESS_PROGRESS_SECONDS": "1"}
    out, err = tmp_path / "table.md", tmp_path / "progress.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "harness", "run", "--methods", "tests.plugin_methods:mean_fill",
                               "--limit", "3", "--size", "48", "--batch-size", "1", "--workers", "0",
                               "--out", str(tmp_path / "runs")],
                              cwd=ROOT, env=env, stdout=stdout, stderr=stderr, timeout=300)
    assert done.returncode == 0, err.read_text()
    log = err.read_text().splitlines()
    lines = [line for line in log if STAMP.match(line)]
    assert len(lines) >= 3, log  # 9 items x 0.4 s with a line every second
    stamps = [datetime.fromisoformat(STAMP.match(line).group(1)) for line in lines]
    assert stamps == sorted(stamps)
    # gaps by the process's own clock (a paused virtual machine can make the wall clock jump)
    elapsed = [sum(int(p) * f for p, f in zip(re.search(r"elapsed (\d+):(\d\d):(\d\d)", line).groups(), (3600, 60, 1)))
               for line in lines]
    gaps = [b - a for a, b in zip(elapsed, elapsed[1:])]
    assert max(gaps) <= 10 and elapsed[0] <= 10, elapsed
    assert any("items (" in line and "img/s" in line and "ETA" in line for line in log), log
    assert "9/9 items (100%)" in lines[-1]
    table = out.read_text()
    assert "| mean-fill" in table  # the plug-in under its predictor's name
    assert not any(STAMP.match(line) for line in table.splitlines())
    assert "scored" not in table and "records:" not in table and "ETA" not in table
    assert "mean-fill: 9 scored, 0 failed, 9 predicted" in err.read_text()
    assert "time: manifest" in err.read_text() and "results.json" in err.read_text()


def test_overall_line_counts_items_of_every_method():
    stream = io.StringIO()
    shown = Display(stream=stream, live=False, interval=3600)
    shown.expect(10)
    first = shown.add_task("a · 0-20", total=5, completed=2)  # 2 cached
    shown.advance(first, 3)
    status = shown.status()
    assert status.startswith("5/10 items (50%)") and "a · 0-20 5/5" in status
    second = shown.add_task("b · 0-20", total=5)
    shown.advance(second, 1)
    assert shown.status().startswith("6/10 items (60%)") and "b · 0-20 1/5" in shown.status()


def test_manifest_steps_and_stage_times_are_reported():
    stream = io.StringIO()
    with display(True, stream=stream, live=False, interval=3600) as shown:
        with shown.stage("manifest"):
            assert list(track(range(4), "decoding images")) == [0, 1, 2, 3]
        assert "decoding images 4/4" in shown.status()
    assert set(shown.stage_times()) == {"manifest"}
    assert STAMP.match(stream.getvalue())  # the final line when the display stops
