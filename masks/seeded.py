"""The published mask generators under one order-independent seeding contract.

Mask ``i`` of seed ``S`` is the official generator run right after ``np.random.seed([S, i])``:
numpy's legacy Mersenne Twister seeded by ``init_by_array`` with the two words S and i. The
draw uses a private ``RandomState([S, i])`` (the same stream as the global one, without touching
it), so a mask depends on nothing but its name, S and i: any order, any process. The authors'
own published mask files are not draws of this contract (docs/masks.md) and stay a folder set.
Each generator is a mask source named like its key in :data:`GENERATORS`; harness.builtins
registers ``masks.seeded:<name>`` (a lazy target this module's ``__getattr__`` answers).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np

from masks import lama, mat
from masks.sources import SEEDED, MaskSource

Draw = Callable[[str, np.random.RandomState], np.ndarray]
WORD = 2**32  # init_by_array takes 32-bit words
#: The default bucket of the seeded sources: their papers score every mask together.
WHOLE_RANGE = "0-100"

#: Source name -> (side in pixels, generator).
GENERATORS: dict[str, tuple[int, Draw]] = {
    **{name: (config.size, lama.lama_mask) for name, config in lama.CONFIGS.items()},
    **{name: (config.size, mat.random_mask) for name, config in mat.CONFIGS.items()},
}


def __getattr__(name: str) -> MaskSource:
    """The mask source of generator ``name`` (the registry's target ``masks.seeded:<name>``)."""
    if name not in GENERATORS:
        raise AttributeError(f"module 'masks.seeded' has no attribute '{name}'")
    return MaskSource(name, describe(name), SEEDED, default_buckets=WHOLE_RANGE)


def describe(name: str) -> str:
    """One line for ``harness list``."""
    size = mask_size(name)
    if name in lama.CONFIGS:
        kind = name.split("-")[1]
        what = f"LaMa's {kind} masks (configs/data_gen/random_{kind}_{size}.yaml)"
    elif name.startswith("mat-"):
        what = f"MAT's {name.split('-')[1]} RandomMask"
    else:
        low, high = mat.CONFIGS[name].hole_range
        what = f"Co-Mod-GAN's RandomMask, hole ratio in ({low:g}, {high:g})"
    return f"{what}, {size}x{size}, mask i of seed S drawn after np.random.seed([S, i]) (no files needed)"


def mask_size(name: str) -> int:
    """Side of the masks a source draws."""
    if name not in GENERATORS:
        raise ValueError(f"unknown seeded mask source '{name}'; known: {', '.join(GENERATORS)}")
    return GENERATORS[name][0]


def seeded_mask(name: str, seed: int, index: int) -> np.ndarray:
    """uint8 N x N mask, 255 = hole: mask ``index`` of ``seed`` from source ``name``."""
    mask_size(name)
    if not (0 <= seed < WORD and 0 <= index < WORD):
        raise ValueError(f"seed {seed} and mask index {index} must lie in [0, 2**32)")
    return GENERATORS[name][1](name, np.random.RandomState([seed, index]))


def seeded_hole_mask(name: str, seed: int, index: int) -> np.ndarray:
    """The harness's mask form of :func:`seeded_mask`: float32, 1 = hole."""
    return (seeded_mask(name, seed, index) == 255).astype(np.float32)


def generator_version(name: str) -> str:
    """Hash of the code that draws ``name``'s masks (keys cached measurements)."""
    module = lama if name in lama.CONFIGS else mat
    return hashlib.sha256(Path(module.__file__).read_bytes() + Path(__file__).read_bytes()).hexdigest()[:16]


def hole_ratio_histogram(ratios: list[float], bins: int = 10) -> list[tuple[float, float, int]]:
    """Counts of hole ratios in ``bins`` equal bins of [0, 1] (the last one closed), as
    (low, high, count): the shape LaMa and MAT report for their mask sets."""
    counts, edges = np.histogram(np.asarray(ratios, dtype=np.float64), bins=bins, range=(0.0, 1.0))
    return [(float(edges[k]), float(edges[k + 1]), int(counts[k])) for k in range(bins)]
