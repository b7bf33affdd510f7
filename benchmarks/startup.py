"""Start-up of a one-image run against ``python -c "import torch"``, interleaved, before and after.

Each pair runs ``import torch`` and then ``harness run --methods telea --limit 1 --buckets 20-40``
(one classical method on one image of the embedded default, in a fresh cache and runs folder,
LPIPS as the defaults give it) as separate processes, for this tree and optionally another
checkout (``--tree``, e.g. the main branch: the "before"). The machine is shared and busy, so
only the ratio of the two medians measured in the same rounds means anything.

    python benchmarks/startup.py [--tree /work/main] [--pairs 5] [-- extra run flags]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
RUN = ["--methods", "telea", "--limit", "1", "--buckets", "20-40", "--no-progress"]


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="another checkout to compare with (the 'before')")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="more flags for harness run")
    args = parser.parse_args()
    trees = {"this tree": HERE, **({"other tree": args.tree.resolve()} if args.tree else {})}
    torch_times: list[float] = []
    run_times: dict[str, list[float]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            for label, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1",
                       "HARNESS_CACHE": f"{tmp}/{pair}-{label}/cache", "HARNESS_RUNS": f"{tmp}/{pair}-{label}/runs"}
                torch_times.append(_timed([sys.executable, "-c", "import torch"], env))
                run_times[label].append(_timed([sys.executable, "-m", "harness", "run", *RUN, *args.extra], env))
    base = statistics.median(torch_times)
    print(f"import torch: median {base:.2f} s over {len(torch_times)} runs (interleaved with the runs below)")
    print(f"harness run {' '.join(RUN + args.extra)}")
    ratios = {}
    for label, values in run_times.items():
        ratios[label] = statistics.median(values) / base
        print(f"  {label:10s} median {statistics.median(values):6.2f} s  min {min(values):6.2f} s  "
              f"= {ratios[label]:.2f}x import torch")
    if args.tree:
        print(f"before/after: {ratios['other tree']:.2f}x -> {ratios['this tree']:.2f}x import torch")


if __name__ == "__main__":
    main()
