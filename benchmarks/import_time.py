"""Start-up cost of the command line: wall seconds of ``harness --help`` and of importing the
report, and whether torch was imported, for this tree and optionally another checkout
(``--tree PATH``), interleaved in one run so the ratio is fair.

    python benchmarks/import_time.py [--tree /path/to/other/checkout] [--repeat 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PROBES = {
    "harness --help": "from harness.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "import harness.reports.report": "import harness.reports.report",
}


def _once(tree: Path, code: str) -> tuple[float, bool]:
    probe = f"import sys\nsys.path.insert(0, {str(tree)!r})\n{code}\nprint('torch' in sys.modules, file=sys.stderr)"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe], cwd=tree, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", type=Path, help="another checkout to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    trees = {"this tree": HERE, **({"other tree": args.tree.resolve()} if args.tree else {})}
    times: dict[tuple[str, str], list[float]] = {}
    torch_loaded: dict[tuple[str, str], bool] = {}
    for _ in range(args.repeat):
        for name, code in PROBES.items():
            for label, tree in trees.items():
                seconds, loaded = _once(tree, code)
                times.setdefault((name, label), []).append(seconds)
                torch_loaded[(name, label)] = loaded
    print(f"{'probe':24} {'tree':11} {'median s':>9} {'min s':>7}  torch imported")
    for (name, label), values in times.items():
        print(f"{name:24} {label:11} {statistics.median(values):9.2f} {min(values):7.2f}  {torch_loaded[(name, label)]}")
    if args.tree:
        for name in PROBES:
            ratio = statistics.median(times[(name, "other tree")]) / statistics.median(times[(name, "this tree")])
            print(f"{name}: other / this = {ratio:.1f}x")


if __name__ == "__main__":
    main()
