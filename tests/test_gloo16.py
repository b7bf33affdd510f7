"""Sixteen torchrun ranks over gloo on one machine, each writing its part, merged by the reducer:
the records, set-level metrics (FID and KID with bootstrap intervals) and results.json of one
process, byte for byte.

The ranks run the command line (``torch.distributed.run ... -m harness run``) with the real
feature extractor, torch-fidelity's Inception on the offline trunk, and a plug-in method beside a
built-in one. This replaces a three-rank test of the same path: sixteen ranks also deal the
batches of every (method, bucket) over more processes than a bucket has batches of one method.

Its size is what this machine allows (2 cores, shared): each rank costs about 5 CPU seconds
before its first item (importing torch and torch-fidelity, building the trunk) and about 580 MB
(sixteen ranks and their launcher: 9.3 GB at peak, PSS; benchmarks/scale_sim.py), and Inception
costs 0.2 s per image at 299x299 on one thread. So: 16 images of 40x40 in two buckets (32 items,
two per rank and method), and the single-process reference run in this process on one thread,
which gives the ranks' bits (torchrun's one thread per rank). About 125 CPU seconds in all.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.cli import main
from harness.metrics import inception_trunk
from tests.test_distributed import MEAN_FILL, ROOT, _env, _same_run

RANKS = 16
BUCKETS = ("0-30", "30-60")
IMAGES = 16  # per bucket: 32 items


def _folder(root: Path) -> None:
    """Smooth gradients with noise: features that differ per image, holes telea can fill."""
    rng = np.random.default_rng(16)
    (root / "images").mkdir(parents=True)
    ramp = np.linspace(0, 1, 40)
    for i in range(IMAGES):
        base = 255 * np.stack([np.add.outer(ramp, ramp * c) / (1 + c) for c in rng.random(3) * 2], -1)
        pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"im{i:02d}.png")


@pytest.mark.slow  # sixteen processes importing torch and torch-fidelity: 82-90 s at load 6-15 on 2 cores
@pytest.mark.skipif(inception_trunk.find_trunk() is None, reason=f"offline Inception trunk not installed "
                                                                 f"({inception_trunk.INSTALL})")
def test_sixteen_gloo_ranks_with_parts_and_the_reducer_write_the_single_process_records_and_fid(tmp_path, one_thread):
    _folder(tmp_path / "data")
    args = ["run", "--methods", f"telea,{MEAN_FILL}", "--dataset", "folder", "--data-root", str(tmp_path / "data"),
            "--masks", "generated", "--buckets", ",".join(BUCKETS), "--limit", str(IMAGES), "--size", "32",
            "--no-lpips", "--set-metrics", "FID,KID", "--set-bootstrap", "2", "--no-progress", "--out"]
    ranks = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={RANKS}", "-m",
             "harness", *args, str(tmp_path / "ranks")]
    done = subprocess.run(ranks, cwd=ROOT, env=_env(tmp_path, "cache-ranks", OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert main([*args, str(tmp_path / "single")]) == 0  # conftest's cache of this test, one thread

    _same_run(tmp_path / "single", tmp_path / "ranks")  # every file but the parts, byte for byte
    [single], [run_dir] = (tmp_path / "single").iterdir(), (tmp_path / "ranks").iterdir()
    for name in ("methods/telea/records.csv", "methods/telea/set_metrics.csv", "results.json"):
        assert (single / name).read_bytes() == (run_dir / name).read_bytes(), name  # the acceptance's files, named
    for method in run_dir.joinpath("parts").iterdir():  # every rank scored its share of every method and bucket
        parts = sorted(method.iterdir(), key=lambda p: int(p.name.split("-")[1]))
        assert [p.name for p in parts] == [f"{RANKS}-{i}" for i in range(RANKS)]
        assert [json.loads((p / "part.json").read_text())["scored"] for p in parts] == [2] * RANKS, method.name
    with open(run_dir / "methods" / "telea" / "set_metrics.csv", newline="") as file:
        values = list(csv.DictReader(file))
    assert sorted((v["bucket"], v["metric"]) for v in values) == [(b, m) for b in BUCKETS for m in ("FID", "KID×1000")]
    for value in values:  # numbers over the bucket's 16 items, with an interval, as one process computes them
        assert value["n"] == str(IMAGES) and all(np.isfinite(float(value[k])) for k in ("value", "ci_low", "ci_high"))
