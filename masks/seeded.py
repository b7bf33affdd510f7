"""The published mask generators under one order-independent seeding contract.

Mask ``i`` of seed ``S`` is the official generator run right after ``np.random.seed([S, i])``:
numpy's legacy Mersenne Twister seeded by ``init_by_array`` with the two words S and i. The
draw uses a private ``RandomState([S, i])`` (the same stream as the global one, without touching
it), so a mask depends on nothing but its name, S and i: any order, any process. The authors'
own published mask files are not draws of this contract (docs/masks.md) and stay a folder set.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from harness.errors import UnknownName
from masks import lama, mat

Draw = Callable[[str, np.random.RandomState], np.ndarray]
WORD = 2**32  # init_by_array takes 32-bit words

#: Source name -> (side in pixels, generator).
GENERATORS: dict[str, tuple[int, Draw]] = {
    **{name: (config.size, lama.lama_mask) for name, config in lama.CONFIGS.items()},
    **{name: (config.size, mat.random_mask) for name, config in mat.CONFIGS.items()},
}


def mask_size(name: str) -> int:
    """Side of the masks a source draws."""
    if name not in GENERATORS:
        raise UnknownName(f"unknown seeded mask source '{name}'; known: {', '.join(GENERATORS)}")
    return GENERATORS[name][0]


def seeded_mask(name: str, seed: int, index: int) -> np.ndarray:
    """uint8 N x N mask, 255 = hole: mask ``index`` of ``seed`` from source ``name``."""
    mask_size(name)
    if not (0 <= seed < WORD and 0 <= index < WORD):
        raise ValueError(f"seed {seed} and mask index {index} must lie in [0, 2**32)")
    return GENERATORS[name][1](name, np.random.RandomState([seed, index]))


def hole_ratio_histogram(ratios: list[float], bins: int = 10) -> list[tuple[float, float, int]]:
    """Counts of hole ratios in ``bins`` equal bins of [0, 1] (the last one closed), as
    (low, high, count): the shape LaMa and MAT report for their mask sets."""
    counts, edges = np.histogram(np.asarray(ratios, dtype=np.float64), bins=bins, range=(0.0, 1.0))
    return [(float(edges[k]), float(edges[k + 1]), int(counts[k])) for k in range(bins)]
