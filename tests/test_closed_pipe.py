"""A reader that closes the pipe early (``harness report | head -1``) ends the command quietly, exit 141."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [["list"], ["report", "--paper", "table2"]], ids=["rich-table", "report-text"])
def test_a_closed_stdout_gives_no_traceback_and_exit_141(command, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "harness", *command, *(["--runs", str(tmp_path)]
                                if command[0] == "report" else [])],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
