"""First versus second `harness run` wall time (the second should only start up and read).

Each case runs twice in a fresh cache and runs folder, as separate processes, on the embedded
default. Usage: python benchmarks/rerun_bench.py [--limit N]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CASES = {
    "biharmonic": ["--methods", "biharmonic"],
    "misf (random weights)": ["--methods", "misf", "--checkpoint", "random"],
}


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "run", "--no-progress", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int)
    limit = ["--limit", str(parser.parse_args().limit)] if parser.parse_args().limit else []
    print(f"{'case':24s} {'first s':>9s} {'second s':>9s} {'second/first':>13s}")
    for name, args in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "HARNESS_CACHE": f"{tmp}/cache", "HARNESS_RUNS": f"{tmp}/runs", "HARNESS_NO_LPIPS": "1"}
            first, second = timed(args + limit, env), timed(args + limit, env)
        print(f"{name:24s} {first:9.2f} {second:9.2f} {second / first:13.3f}")


if __name__ == "__main__":
    main()
