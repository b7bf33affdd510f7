"""Per-item host cost of a metrics-only run against the number of items (issue 26, item 2).

For each size N, a folder of N synthetic images of ``--px`` pixels with their own masks
(``images/``, ``masks/``) is evaluated by ``harness run`` with a method that costs nothing
(``tests.plugin_methods:mean_fill``), ``--keep-outputs none``, no LPIPS, one bucket, in a fresh
cache and runs folder: the host's per-item work is then the manifest (decode, hash, measure),
loading, the metrics, the cache and the records. Each run is timed inside its process after the
imports, and a run of ``--base`` items measured alongside gives what is left of the fixed cost,
so per item = (cost(N) - cost(base)) / (N - base), in CPU seconds of the process (the machine
is shared: its wall seconds stretch with the load) and in wall seconds. A flat cost has the
same per-item time at every N.

``--threads 1`` runs torch single-threaded: on a machine whose cores are all busy with other
work, every elementwise op on a batch above torch's parallel grain waits for a second thread to
be scheduled, which multiplies the time of small-image metrics (this machine: 8.8 s against
66.9 s for the evaluation of 3,000 items of 16 px); measure the harness's own cost with it.

    python benchmarks/per_item_cost.py [--sizes 1000,10000,100000] [--px 16] [--threads 1] [--folder DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parents[1]
DRIVER = """
import json, sys, time
import harness.engine.runner, harness.reports.report, harness.store.results, harness.cli.run
from harness.cli import main
cpu, wall = time.process_time(), time.perf_counter()
code = main(json.loads(sys.argv[1]))
print("COST", json.dumps({"code": code, "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}))
"""


def make_folder(root: Path, n: int, px: int) -> None:
    """N random images and masks (a random rectangle of 10-50 % of the image each)."""
    rng = np.random.default_rng(n)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (px, px, 3), dtype=np.uint8)).save(root / "images" / f"{i:07d}.png")
        mask = np.zeros((px, px), np.uint8)
        h, w = int(rng.integers(px // 3, px * 2 // 3 + 1)), int(rng.integers(px // 3, px * 2 // 3 + 1))
        top, left = int(rng.integers(0, px - h + 1)), int(rng.integers(0, px - w + 1))
        mask[top : top + h, left : left + w] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i:07d}.png")


def measure(data: Path, work: Path, px: int, batch: int, threads: int | None) -> dict[str, float]:
    """CPU and wall seconds of one run, and its stage times as it reports them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(work / "cache"), "HARNESS_RUNS": str(work / "runs"),
           "PYTHONPATH": str(HERE), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    argv = ["run", "--methods", "tests.plugin_methods:mean_fill", "--dataset", "folder", "--data-root", str(data),
            "--size", str(px), "--buckets", "0-100", "--keep-outputs", "none", "--no-lpips", "--no-progress",
            "--batch-size", str(batch)]
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argv)], env=env, cwd=work, capture_output=True, text=True)
    cost = next((json.loads(line[5:]) for line in done.stdout.splitlines() if line.startswith("COST ")), None)
    if done.returncode != 0 or cost is None or cost["code"] != 0:
        raise SystemExit(f"harness run failed ({done.returncode}): {done.stderr[-2000:]}")
    stages = dict((name, float(value)) for name, value in re.findall(r"(manifest|evaluate \S+) ([\d.]+) s", done.stderr))
    return {**cost, "manifest": stages.get("manifest", float("nan")),
            "evaluate": next((v for k, v in stages.items() if k.startswith("evaluate")), float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--base", type=int, default=20, help="items of the run that gives the fixed cost")
    parser.add_argument("--px", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the runs (default: as inherited)")
    parser.add_argument("--folder", type=Path, help="where to write the synthetic data (default: a temporary folder)")
    args = parser.parse_args()
    base_dir = Path(tempfile.mkdtemp(dir=args.folder))
    try:
        make_folder(base_dir / "data-base", args.base, args.px)
        print(f"{'items':>8} {'cpu s':>8} {'wall s':>8} {'manifest s':>10} {'evaluate s':>10} "
              f"{'cpu ms/item':>11} {'wall ms/item':>12}")
        per_item = {}
        for n in (int(s) for s in args.sizes.split(",")):
            data = base_dir / f"data-{n}"
            make_folder(data, n, args.px)
            fixed = measure(base_dir / "data-base", Path(tempfile.mkdtemp(dir=base_dir)), args.px, args.batch_size, args.threads)
            run = measure(data, Path(tempfile.mkdtemp(dir=base_dir)), args.px, args.batch_size, args.threads)
            per_item[n] = cpu_ms = (run["cpu"] - fixed["cpu"]) / (n - args.base) * 1e3
            wall_ms = (run["wall"] - fixed["wall"]) / (n - args.base) * 1e3
            print(f"{n:8d} {run['cpu']:8.1f} {run['wall']:8.1f} {run['manifest']:10.1f} {run['evaluate']:10.1f} "
                  f"{cpu_ms:11.3f} {wall_ms:12.3f}", flush=True)
            shutil.rmtree(data)
        if len(per_item) > 1:
            print(f"largest / smallest CPU per item: {max(per_item.values()) / min(per_item.values()):.2f}")
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
