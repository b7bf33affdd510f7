"""FID from exact sums (``--set-state sums``) against FID from the features, at Inception's
dimension: synthetic non-negative features (gamma, as pool features), N items per side. Prints
each value, the relative difference, whether 1, 4 and 16 parts (shuffled) give the same bits,
and the seconds the sums take per item (read the ratio to the FID itself: the machine is shared).

Usage: python benchmarks/set_state_fid.py [--items 2500] [--dim 2048]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.metrics import mat  # noqa: E402
from harness.metrics.mergeable import ExactSums, frechet_from_sums  # noqa: E402
from harness.metrics.setlevel import frechet_distance  # noqa: E402


def _sums(x: np.ndarray, parts: int, rng) -> ExactSums:
    pieces = []
    for rows in np.array_split(rng.permutation(len(x)), parts):
        sums = ExactSums(x.shape[1])
        for start in range(0, len(rows), 64):  # batches of 64, as a run adds them
            sums.add(x[rows[start:start + 64]])
        pieces.append(sums)
    return ExactSums.merge(pieces[::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2500)
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    real = rng.gamma(2.0, 0.2, (args.items, args.dim)).astype(np.float32)
    fake = np.abs(real + rng.normal(0, 0.3, real.shape)).astype(np.float32)
    start = time.perf_counter()
    references = {1: frechet_distance(real, fake)}
    fid_seconds = time.perf_counter() - start
    references[0] = mat.fid(real, fake)
    values, sums_seconds = {}, 0.0
    for parts in (1, 4, 16):
        start = time.perf_counter()
        sums = [_sums(x, parts, rng) for x in (real, fake)]
        sums_seconds = time.perf_counter() - start
        for ddof in (0, 1):
            values.setdefault(ddof, set()).add(frechet_from_sums(sums[0].frechet(), sums[1].frechet(), ddof))
    print(f"{args.items} items per side, D = {args.dim}")
    for ddof, reference in references.items():
        [value] = values[ddof] if len(values[ddof]) == 1 else [None]
        name = "FID (N-1, torch-fidelity)" if ddof else "mat.FID (N, MAT's code)"
        print(f"  {name}: features {reference!r}, exact sums {sorted(values[ddof])!r}; the same bits for 1, 4 and 16 "
              f"parts: {value is not None}; relative difference {abs(value - reference) / reference:.2e}"
              if value is not None else f"  {name}: splits differ: {values[ddof]}")
    print(f"  sums of both sides (16 parts): {sums_seconds:.1f} s ({sums_seconds / args.items * 1e3:.2f} ms per item); "
          f"torch-fidelity's FID from the features: {fid_seconds:.1f} s")


if __name__ == "__main__":
    main()
