"""Per-item host cost of a metrics-only run against the number of items (issue 26, item 2).

For each size N, N synthetic images of ``--px`` pixels, each with its own mask (a random
rectangle), are evaluated by ``harness run`` with a method that costs nothing
(``tests.plugin_methods:mean_fill``), ``--keep-outputs none``, no LPIPS, one bucket, no loader
process, in a fresh cache and runs folder: the host's per-item work is then reading the inputs,
the manifest (decode, hash, measure), loading, the metrics, the cache and the records. The inputs
are tar shards of 10,000 samples by default (``--input shards``: a million items as 100 files,
read through ``--dataset shards``, which spools each mask to a file of its own) or a folder
(``--input folder``: two files per item). Each run is timed inside its process after the
imports, and a run of ``--base`` items measured alongside gives what is left of the fixed cost,
so per item = (cost(N) - cost(base)) / (N - base), in CPU seconds of the process (the machine
is shared: its wall seconds stretch with the load) and in wall seconds, with the run's peak RSS.
A size of fewer than ``--repeat-items`` items is measured in several rounds (at most
``--repeats``) and its median round reported: at 1,000 items the difference of two short runs is
noisy. A flat cost has the same per-item time at every N.

``--threads 1`` runs torch single-threaded: on a machine whose cores are all busy with other
work, every elementwise op on a batch above torch's parallel grain waits for a second thread to
be scheduled, which multiplies the time of small-image metrics (this machine: 8.8 s against
66.9 s for the evaluation of 3,000 items of 16 px); measure the harness's own cost with it.

    python benchmarks/per_item_cost.py [--sizes 1000,10000,100000,1000000] [--input shards] [--px 16]
        [--threads 1] [--folder DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parents[1]
SHARD_SAMPLES = 10_000
DRIVER = """
import json, resource, sys, time
import harness.engine.runner, harness.reports.report, harness.store.results, harness.cli.run
from harness.cli import main
cpu, wall = time.process_time(), time.perf_counter()
code = main(json.loads(sys.argv[1]))
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("COST", json.dumps({"code": code, "cpu": cpu, "wall": wall, "rss_mib": usage[0].ru_maxrss / 1024,
                          "children_cpu": usage[1].ru_utime + usage[1].ru_stime}))
"""


def synthetic(n: int, px: int) -> Iterator[tuple[str, bytes, bytes]]:
    """N (name, image PNG, mask PNG): random pixels, each mask a random rectangle of 10-50 % of the image."""
    rng = np.random.default_rng(n)
    for i in range(n):
        image = rng.integers(0, 256, (px, px, 3), dtype=np.uint8)
        mask = np.zeros((px, px), np.uint8)
        h, w = int(rng.integers(px // 3, px * 2 // 3 + 1)), int(rng.integers(px // 3, px * 2 // 3 + 1))
        top, left = int(rng.integers(0, px - h + 1)), int(rng.integers(0, px - w + 1))
        mask[top : top + h, left : left + w] = 255
        yield f"{i:07d}", _png(image), _png(mask)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_folder(root: Path, n: int, px: int) -> str:
    """``root/images/NAME.png`` and ``root/masks/NAME.png``; the ``--data-root`` that reads them."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, image, mask in synthetic(n, px):
        (root / "images" / f"{name}.png").write_bytes(image)
        (root / "masks" / f"{name}.png").write_bytes(mask)
    return str(root)


def make_shards(root: Path, n: int, px: int) -> str:
    """The same samples as tar shards of SHARD_SAMPLES each (``NAME.png``, ``NAME.mask.png``: the ids
    a folder gives, docs/shards.md §1); the brace pattern that reads them."""
    root.mkdir(parents=True)
    count = -(-n // SHARD_SAMPLES)
    samples = synthetic(n, px)
    for shard in range(count):
        with tarfile.open(root / f"shards-{shard:04d}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
            for name, image, mask in (next(samples) for _ in range(min(SHARD_SAMPLES, n - shard * SHARD_SAMPLES))):
                for member, data in ((f"{name}.png", image), (f"{name}.mask.png", mask)):
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(root / f"shards-{{0000..{count - 1:04d}}}.tar")


MAKERS = {"folder": make_folder, "shards": make_shards}


def measure(data: str, kind: str, parent: Path, px: int, batch: int, threads: int | None) -> dict[str, float]:
    """CPU and wall seconds of one run in a fresh cache and runs folder (under ``parent``), its peak
    RSS, and its stage times as it reports them."""
    work = Path(tempfile.mkdtemp(dir=parent))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": str(work / "cache"), "HARNESS_RUNS": str(work / "runs"),
           "PYTHONPATH": str(HERE), "TMPDIR": str(work), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    argv = ["run", "--methods", "tests.plugin_methods:mean_fill", "--dataset", kind, "--data-root", data,
            "--size", str(px), "--buckets", "0-100", "--keep-outputs", "none", "--no-lpips", "--no-progress",
            "--batch-size", str(batch), "--workers", "0"]
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argv)], env=env, cwd=work, capture_output=True, text=True)
    shutil.rmtree(work)
    cost = next((json.loads(line[5:]) for line in done.stdout.splitlines() if line.startswith("COST ")), None)
    if done.returncode != 0 or cost is None or cost["code"] != 0:
        raise SystemExit(f"harness run failed ({done.returncode}): {done.stderr[-2000:]}")
    stages = dict((name, float(value)) for name, value in re.findall(r"(manifest|evaluate \S+) ([\d.]+) s", done.stderr))
    return {**cost, "manifest": stages.get("manifest", float("nan")),
            "evaluate": next((v for k, v in stages.items() if k.startswith("evaluate")), float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--base", type=int, default=20, help="items of the run that gives the fixed cost")
    parser.add_argument("--input", choices=sorted(MAKERS), default="shards", help="how the items are given")
    parser.add_argument("--repeats", type=int, default=5, help="most rounds of a size (median of them)")
    parser.add_argument("--repeat-items", type=int, default=100_000,
                        help="a size gets repeat-items // N rounds, within 1 and --repeats")
    parser.add_argument("--px", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the runs (default: as inherited)")
    parser.add_argument("--folder", type=Path, help="where to write the synthetic data (default: a temporary folder)")
    args = parser.parse_args()
    make = MAKERS[args.input]
    base_dir = Path(tempfile.mkdtemp(dir=args.folder))
    try:
        base = make(base_dir / "data-base", args.base, args.px)
        print(f"{'items':>8} {'rounds':>7} {'cpu s':>8} {'wall s':>8} {'manifest s':>10} {'evaluate s':>10} "
              f"{'cpu ms/item':>11} {'wall ms/item':>12} {'peak RSS MiB':>12}")
        per_item = {}
        for n in (int(s) for s in args.sizes.split(",")):
            data = make(base_dir / f"data-{n}", n, args.px)
            rounds = []  # (fixed, run) pairs; their median CPU per item is the size's figure
            for _ in range(max(1, min(args.repeats, args.repeat_items // n))):
                fixed = measure(base, args.input, base_dir, args.px, args.batch_size, args.threads)
                rounds.append((fixed, measure(data, args.input, base_dir, args.px, args.batch_size, args.threads)))
            shutil.rmtree(base_dir / f"data-{n}")
            rounds.sort(key=lambda pair: pair[1]["cpu"] - pair[0]["cpu"])
            fixed, run = rounds[len(rounds) // 2]
            per_item[n] = cpu_ms = (run["cpu"] - fixed["cpu"]) / (n - args.base) * 1e3
            wall_ms = (run["wall"] - fixed["wall"]) / (n - args.base) * 1e3
            print(f"{n:8d} {len(rounds):7d} {run['cpu']:8.1f} {run['wall']:8.1f} {run['manifest']:10.1f} "
                  f"{run['evaluate']:10.1f} {cpu_ms:11.3f} {wall_ms:12.3f} {run['rss_mib']:12.0f}", flush=True)
        if len(per_item) > 1:
            print(f"largest / smallest CPU per item: {max(per_item.values()) / min(per_item.values()):.2f}")
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
