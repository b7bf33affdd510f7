"""Wall time of one run as one plain process versus torchrun with N processes (ranks), and the
items each rank predicted (read from the cache: every process appends to its own pack file).

Each case runs in a fresh cache and runs folder; the cases are interleaved round by round so
that a machine loaded by others slows them alike; the table gives the median of the rounds
and its ratio to the plain process, and the CPU seconds of all its processes (the same work
costs about the same CPU time; the wall time falls only where cores are free). On a GPU machine the ranks take cuda:LOCAL_RANK as is.

Usage: python benchmarks/scaleout_bench.py [--methods biharmonic] [--limit 10] [--nproc 1,2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.store.cache import Cache  # noqa: E402


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process it started)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def items_per_process(cache: Path) -> list[int]:
    """Predictions kept per pack file's process (one pid per rank), largest first."""
    counts = Counter(entry.path.name.rsplit("-", 1)[1] for entry in Cache(cache).entries() if entry.header["kind"] == "output")
    return sorted(counts.values(), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", default="biharmonic", help="a CPU-bound method by default (one thread per item)")
    parser.add_argument("--checkpoint", action="append", default=[])
    parser.add_argument("--limit", type=int, default=10, help="images per bucket")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--nproc", default="1,2", help="torchrun process counts to time beside the plain process")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run = ["run", "--methods", args.methods, "--limit", str(args.limit), "--size", str(args.size), "--no-lpips",
           "--no-progress", *[f"--checkpoint={c}" for c in args.checkpoint]]
    cases = {"plain process": [sys.executable, "-m", "harness", *run]}
    for n in [int(v) for v in args.nproc.split(",")]:
        cases[f"torchrun x{n}"] = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                                   "-m", "harness", *run]
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    split: dict[str, list[int]] = {}
    for _ in range(args.repeats):
        for name, command in cases.items():
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HARNESS_CACHE": f"{tmp}/cache",
                       "HARNESS_RUNS": f"{tmp}/runs"}
                wall, seconds = timed(command, env)
                times[name].append(wall)
                cpu[name].append(seconds)
                split[name] = items_per_process(Path(tmp) / "cache")
    print(f"{args.methods}, limit {args.limit}, {args.size}px, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, {args.repeats} interleaved rounds")
    base = statistics.median(times["plain process"])
    print(f"{'case':16s} {'median s':>9s} {'x plain':>8s} {'CPU s':>7s}  {'all rounds s':24s} items predicted per process")
    for name, values in times.items():
        rounds = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:16s} {statistics.median(values):9.2f} {base / statistics.median(values):8.2f} "
              f"{statistics.median(cpu[name]):7.1f}  {rounds:24s} {split[name]}")


if __name__ == "__main__":
    main()
