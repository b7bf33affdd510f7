"""Plug-ins as a new user writes them: the README's example as written, other callables, names."""
import os
import re
import subprocess
import sys
from pathlib import Path

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--limit", "1", "--size", "48", "--no-progress", "--no-lpips"]


def _readme_example() -> tuple[str, str]:
    """The Python block and the command line of README.md's "Your own model" section."""
    section = ROOT.joinpath("README.md").read_text().split("### Your own model", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    command = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip()
    return code, command


def test_readme_plugin_example_works_as_written(tmp_path):
    code, command = _readme_example()
    (tmp_path / "myplug.py").write_text(code)
    assert command.startswith("harness run ")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_NO_LPIPS": "1"}  # no VGG16 download in tests
    # as the console script: without the current folder on sys.path (`python -c` puts it first)
    launcher = f"import sys; sys.path.pop(0); from harness.cli import main; sys.exit(main({command.split()[1:]!r}))"
    done = subprocess.run([sys.executable, "-c", launcher], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "| blur-fill" in done.stdout and "myplug:factory" not in done.stdout
    assert "| telea" in done.stdout and "Traceback" not in done.stderr


def test_predictor_class_zero_argument_callable_and_include_path(tmp_path, capsys, monkeypatch):
    elsewhere = tmp_path / "code"
    elsewhere.mkdir()
    (elsewhere / "other_plug.py").write_text(
        "from harness.predictor import Predictor\n"
        "class Grey(Predictor):\n"
        "    name = 'grey'\n"
        "    def predict(self, images, masks, **kwargs):\n"
        "        return images * 0 + 0.5\n"
        "def make():\n"
        "    return Grey()\n"
    )
    monkeypatch.chdir(tmp_path)
    args = ["run", "--methods", "as-class=other_plug:Grey,other_plug:make", "--include-path", str(elsewhere),
            "--out", str(tmp_path / "runs"), *FAST]
    assert main(args) == 0
    out = capsys.readouterr().out
    # the class under its alias; the zero-argument callable under its predictor's name
    assert "| as-class" in out and "| grey" in out and "other_plug:make" not in out


def test_a_checkpoint_for_a_plugin_without_one_is_an_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "noweights.py").write_text(
        "from harness.predictor import Predictor\n"
        "class Grey(Predictor):\n"
        "    def predict(self, images, masks, **kwargs):\n"
        "        return images * 0 + 0.5\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--methods", "noweights:Grey", "--checkpoint", "w.pth", "--out", str(tmp_path), *FAST]) == 2
    assert "takes no checkpoint" in capsys.readouterr().err
