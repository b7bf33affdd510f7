"""Start-up of a one-image run against ``python -c "import torch"``, interleaved, before and after.

Each pair runs ``import torch`` and then ``harness run --methods telea --limit 1 --buckets 20-40``
(one classical method on one image of the embedded default, in a fresh cache and runs folder,
LPIPS as the defaults give it) as separate processes, for this tree and optionally another
checkout (``--tree``, e.g. the main branch: the "before"). The machine is shared and busy, so
only the ratio of the two medians measured in the same rounds means anything; the CPU seconds
of each process (user + system) are printed beside the wall seconds, being far less moved by
the load (start-up is almost all CPU work on one core).

    python benchmarks/startup.py [--tree /work/main] [--pairs 5] [-- extra run flags]
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
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
RUN = ["--methods", "telea", "--limit", "1", "--buckets", "20-40", "--no-progress"]


def _timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one process, started in ``cwd`` (``python -m`` puts it first on the path)."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="another checkout to compare with (the 'before')")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="more flags for harness run")
    args = parser.parse_args()
    trees = {"this tree": HERE, **({"other tree": args.tree.resolve()} if args.tree else {})}
    torch_times: list[tuple[float, float]] = []
    run_times: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            for label, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1",
                       "HARNESS_CACHE": f"{tmp}/{pair}-{label}/cache", "HARNESS_RUNS": f"{tmp}/{pair}-{label}/runs"}
                torch_times.append(_timed([sys.executable, "-c", "import torch"], env, tmp))
                run_times[label].append(_timed([sys.executable, "-m", "harness", "run", *RUN, *args.extra], env, tmp))
    base = [statistics.median(t[i] for t in torch_times) for i in (0, 1)]
    print(f"import torch: median wall {base[0]:.2f} s, CPU {base[1]:.2f} s over {len(torch_times)} runs "
          "(interleaved with the runs below)")
    print(f"harness run {' '.join(RUN + args.extra)}")
    ratios = {}
    for label, values in run_times.items():
        wall, cpu = (statistics.median(v[i] for v in values) for i in (0, 1))
        ratios[label] = (wall / base[0], cpu / base[1])
        print(f"  {label:10s} median wall {wall:6.2f} s = {ratios[label][0]:.2f}x, CPU {cpu:6.2f} s = "
              f"{ratios[label][1]:.2f}x import torch")
    if args.tree:
        (before_wall, before_cpu), (after_wall, after_cpu) = ratios["other tree"], ratios["this tree"]
        print(f"before/after, x import torch: wall {before_wall:.2f} -> {after_wall:.2f}, CPU {before_cpu:.2f} -> {after_cpu:.2f}")


if __name__ == "__main__":
    main()
