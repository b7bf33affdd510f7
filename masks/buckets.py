"""Hole-ratio buckets: half-open intervals [a, b) of the fraction of hole pixels, measured at
evaluation resolution after binarisation (not the source's nominal bin).

The ``masks`` package is the lowest layer of the core: the harness imports it, it imports
nothing of the harness (a bad bucket is a plain ``ValueError``, which the command line reports as
one ``error:`` line)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bucket:
    label: str
    low: float
    high: float

    def contains(self, ratio: float) -> bool:
        return self.low <= ratio < self.high


#: The paper's buckets (MISF's mask-test folders 0%-20%, 20%-40%, 40%-60%).
PAPER_BUCKETS: tuple[Bucket, ...] = (Bucket("0-20", 0.0, 0.2), Bucket("20-40", 0.2, 0.4), Bucket("40-60", 0.4, 0.6))
#: A dataset's own paired masks, kept whole (Dunhuang's official test masks).
DEFAULT_BUCKET = Bucket("default", 0.0, 1.0 + 1e-9)


def parse_buckets(text: str | None) -> tuple[Bucket, ...]:
    """``"0-20,20-40"`` (percent) → buckets; None → the paper's."""
    if not text:
        return PAPER_BUCKETS
    buckets = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            bucket = Bucket(f"{low}-{high}", float(low) / 100, float(high) / 100)
        except ValueError:
            raise ValueError(f"bad bucket '{part}': use percent ranges like 0-20,20-40") from None
        if not 0 <= bucket.low < bucket.high <= 1:
            raise ValueError(f"bad bucket '{part}': the low end must be below the high end, both within 0-100 percent")
        buckets.append(bucket)
    return tuple(buckets)


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole pixels of a binary mask (1 = hole)."""
    return float(np.count_nonzero(mask > 0.5)) / mask.size


def bucket_of(ratio: float, buckets: tuple[Bucket, ...]) -> Bucket | None:
    return next((b for b in buckets if b.contains(ratio)), None)
