"""Start-up proportional to the job: what a run does not use, it does not import."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Loaded only by the work that needs them: set-level metrics (torch-fidelity, which brings
# torchvision and torch._dynamo; scikit-learn for P-IDS/U-IDS), records read back (pandas, pyarrow).
SET_METRICS_ONLY = ("torchvision", "torch_fidelity", "sklearn", "torch._dynamo")
READING_RECORDS = ("pandas", "pyarrow")


def _loaded(tmp_path: Path, code: str, names: tuple[str, ...]) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {list(names)!r} if m in sys.modules]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(tmp_path / "cache"),
           "HARNESS_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_runner_loads_no_metric_or_records_stack(tmp_path):
    assert _loaded(tmp_path, "import harness.engine.runner", SET_METRICS_ONLY + READING_RECORDS) == []


def test_a_classical_run_without_set_metrics_loads_no_set_metric_stack(tmp_path):
    run = ("from harness.cli import main\n"
           "assert main(['run', '--methods', 'telea', '--limit', '1', '--buckets', '20-40', '--size', '32',"
           " '--no-progress', '--no-lpips']) == 0")
    assert _loaded(tmp_path, run, SET_METRICS_ONLY + ("torch",)) == ["torch"]  # the probe sees what was imported
    assert _loaded(tmp_path, "import harness.metrics.setlevel", SET_METRICS_ONLY) == []


def test_the_set_metric_stack_loads_when_a_set_metric_is_computed(tmp_path):
    code = ("import numpy as np\nfrom harness.metrics.setlevel import kernel_inception_distance\n"
            "x = np.random.default_rng(0).normal(size=(8, 4))\nkernel_inception_distance(x, x + 1, subsets=2)")
    assert "torch_fidelity" in _loaded(tmp_path, code, ("torch_fidelity",))



def test_predicting_and_scoring_a_classical_method_loads_neither_pandas_nor_the_set_metric_stack(tmp_path):
    code = ("from harness.data.manifest import build_manifest\nfrom harness.data.spec import RunSpec\n"
            "from harness.engine.evaluation import Evaluation\nfrom harness.registry import load_predictor\n"
            "from harness.store.cache import Cache\n"
            "manifest = build_manifest(RunSpec(limit=1, size=32, buckets='20-40'))\n"
            "evaluation = Evaluation(manifest, load_predictor('telea'), 'telea', Cache(), metrics=('PSNR', 'SSIM', 'L1'))\n"
            "result = evaluation.run(manifest.items, show_progress=False)\n"
            "assert result.counts()['scored_items'] == 1, result.failures")
    assert _loaded(tmp_path, code, SET_METRICS_ONLY + READING_RECORDS) == []
