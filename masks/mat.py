"""MAT's and Co-Mod-GAN's free-form masks: one function, ``RandomMask(s, hole_range)``.

MAT's ``datasets/mask_generator_{512,512_small,256,256_small}.py`` and Co-Mod-GAN's
``training/mask_generator.py`` are the same code with other counts: up to ``a`` boxes of up to
s/2, up to ``b`` boxes of up to s, and up to ``c`` brush strokes (PIL polyline plus a disc per
vertex), each count scaled by ``coef = min(lo + hi, 1)``; a mask whose hole ratio is ``<= lo``
or ``>= hi`` is redrawn. Upstream returns 1 = kept; here 255 = hole. Details: docs/masks.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class RandomMaskConfig:
    size: int
    half_boxes: int  # a: MultiFill(a * coef, s // 2)
    full_boxes: int  # b: MultiFill(b * coef, s)
    brushes: int  # c: RandomBrush(c * coef, s)
    hole_range: tuple[float, float] = (0.0, 1.0)


#: Co-Mod-GAN's hole-ratio buckets h0..h4 as literals (metrics/metric_defaults.py), not 0.2 * k.
COMODGAN_RANGES = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))

CONFIGS: dict[str, RandomMaskConfig] = {
    "mat-large-512": RandomMaskConfig(512, 5, 3, 9),
    "mat-small-512": RandomMaskConfig(512, 3, 2, 4),
    "mat-large-256": RandomMaskConfig(256, 4, 2, 8),
    "mat-small-256": RandomMaskConfig(256, 2, 2, 3),
    "comodgan-512": RandomMaskConfig(512, 10, 5, 20),  # its metrics without -hK: hole_range [0, 1]
    **{f"comodgan-h{k}-512": RandomMaskConfig(512, 10, 5, 20, r) for k, r in enumerate(COMODGAN_RANGES)},
}


def _brush(rng: np.random.RandomState, tries: int, s: int) -> np.ndarray:
    """``RandomBrush``: uint8 s x s, 1 = stroke."""
    mean_angle, angle_range, min_width, max_width = 2 * math.pi / 5, 2 * math.pi / 15, 12, 48
    average_radius = math.sqrt(s * s + s * s) / 8
    canvas = Image.new("L", (s, s), 0)
    for _ in range(rng.randint(tries)):
        vertices = rng.randint(4, 18)
        angle_min = mean_angle - rng.uniform(0, angle_range)
        angle_max = mean_angle + rng.uniform(0, angle_range)
        angles = [2 * math.pi - rng.uniform(angle_min, angle_max) if i % 2 == 0 else rng.uniform(angle_min, angle_max)
                  for i in range(vertices)]
        points = [(int(rng.randint(0, s)), int(rng.randint(0, s)))]
        for angle in angles:
            r = np.clip(rng.normal(loc=average_radius, scale=average_radius // 2), 0, 2 * average_radius)
            x = np.clip(points[-1][0] + r * math.cos(angle), 0, s)
            y = np.clip(points[-1][1] + r * math.sin(angle), 0, s)
            points.append((int(x), int(y)))
        draw = ImageDraw.Draw(canvas)
        width = int(rng.uniform(min_width, max_width))
        draw.line(points, fill=1, width=width)
        for x, y in points:
            draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=1)
        rng.random_sample()  # upstream flips with mask.transpose(...) and discards the result:
        rng.random_sample()  # two draws that change nothing
    mask = np.asarray(canvas, np.uint8)
    if rng.random_sample() > 0.5:
        mask = np.flip(mask, 0)
    if rng.random_sample() > 0.5:
        mask = np.flip(mask, 1)
    return mask


def _boxes(rng: np.random.RandomState, kept: np.ndarray, tries: int, max_size: int) -> None:
    """``MultiFill``: boxes that may stick out of the canvas by half their size."""
    s = kept.shape[0]
    for _ in range(rng.randint(tries)):
        w, h = rng.randint(max_size), rng.randint(max_size)
        x, y = rng.randint(-(w // 2), s - w + w // 2), rng.randint(-(h // 2), s - h + h // 2)
        kept[max(y, 0): min(y + h, s), max(x, 0): min(x + w, s)] = 0


def random_mask(name: str, rng: np.random.RandomState) -> np.ndarray:
    """uint8 s x s mask (255 = hole) of ``RandomMask(s, hole_range)``, drawn from ``rng``."""
    config = CONFIGS[name]
    lo, hi = config.hole_range
    coef = min(lo + hi, 1.0)
    s = config.size
    while True:  # upstream's rejection loop; every range above accepts a sizeable share of draws
        kept = np.ones((s, s), np.uint8)
        _boxes(rng, kept, int(config.half_boxes * coef), s // 2)
        _boxes(rng, kept, int(config.full_boxes * coef), s)
        kept = np.logical_and(kept, 1 - _brush(rng, int(config.brushes * coef), s))
        ratio = 1 - np.mean(kept)
        if lo < ratio < hi:
            return np.where(kept, 0, 255).astype(np.uint8)
