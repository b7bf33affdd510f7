"""Cost of the set-level metrics at Places-512 size: 2 x 36,500 x 2,048 features (MAT's validation set).

Synthetic features shaped like Inception pool features (non-negative, correlated, float32), real
and fake (the real ones moved and blurred by noise), then one bucket's FID (torch-fidelity's
statistics: ``set.FID``; MAT's 1/N + ``sqrtm``: ``mat.FID``) and P-IDS + U-IDS (one
``LinearSVC(dual=False)`` fit on 73,000 rows serves both), each timed once, plus a
reference (one 2048x2048 float64 matrix product) to scale the figures on a busy machine.
Bootstrap intervals multiply each set metric's time by their resamples (``--set-bootstrap``).

    python benchmarks/setlevel_cost.py [--items 36500] [--dims 2048]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def synthetic(items: int, dims: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((64, dims)).astype(np.float32) / 8
    scale = rng.gamma(2.0, 0.2, dims).astype(np.float32)
    latent = rng.standard_normal((items, 64)).astype(np.float32)
    real = np.maximum(latent @ mixing + rng.standard_normal((items, dims), np.float32) * scale, 0)
    moved = latent + 0.3 * rng.standard_normal((items, 64)).astype(np.float32)
    fake = np.maximum(moved @ mixing + rng.standard_normal((items, dims), np.float32) * scale * 1.1, 0)
    return real.astype(np.float64), fake.astype(np.float64)


def timed(label: str, fn, reference: float) -> float:
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    print(f"{label:<36} {seconds:8.1f} s  ({seconds / reference:7.1f} x reference)  value {value}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=36500)
    parser.add_argument("--dims", type=int, default=2048)
    args = parser.parse_args()

    from harness.metrics import mat, setlevel

    real, fake = synthetic(args.items, args.dims)
    square = np.random.default_rng(1).standard_normal((2048, 2048))
    start = time.perf_counter()
    square @ square
    reference = time.perf_counter() - start
    print(f"{args.items} x 2 items, {args.dims} dims; reference (2048² float64 matmul): {reference:.2f} s")
    total = timed("FID (torch-fidelity, set.FID)", lambda: round(setlevel.fid(real, fake), 3), reference)
    mat_fid = timed("FID (MAT, 1/N + sqrtm, mat.FID)", lambda: round(mat.fid(real, fake), 3), reference)
    ids = timed("P-IDS + U-IDS (one LinearSVC fit)",
                lambda: tuple(round(v, 4) for v in setlevel.inception_discriminative_scores(real, fake)), reference)
    print(f"one bucket, FID + P-IDS/U-IDS: {total + ids:.0f} s (torch-fidelity FID), {mat_fid + ids:.0f} s (MAT's)")


if __name__ == "__main__":
    main()
