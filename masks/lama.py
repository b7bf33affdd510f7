"""LaMa's evaluation masks (``bin/gen_mask_dataset.py`` with ``configs/data_gen/random_*.yaml``).

One mask is what LaMa's ``process_images`` writes for one N x N image: five candidates from
``MixedMaskGenerator`` (each first draws which generator to use, then irregular strokes or
boxes), a square crop per candidate (the identity on a square image; its ``randint(0, 1)``
returns 0 without advancing numpy's stream), candidates whose hole fraction exceeds ``max_tamper_area`` dropped, one
survivor chosen by a ``choice(..., replace=False)`` (a permutation). When none survives LaMa
writes nothing for the image; here the draw is repeated with the stream continuing. The
image's pixels never enter the draw, only its size. Parameters and call order: docs/masks.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

VARIANTS = 5  # variants_n of every random_*.yaml (popped from the kwargs: a fresh config per mask)
MAX_TAMPER_AREA = 0.5
#: Redraws of a whole image before giving up. Every candidate fails the tamper filter on about
#: 1.6 % of lama-thick-512's first passes (0.44 ** 5); a thousand failures in a row do not happen.
MAX_ATTEMPTS = 1000


@dataclass(frozen=True)
class Strokes:
    """``irregular_kwargs`` of a config (``make_random_irregular_mask``)."""

    min_times: int
    max_times: int
    max_width: int
    max_angle: int
    max_len: int


@dataclass(frozen=True)
class Boxes:
    """``box_kwargs`` of a config (``make_random_rectangle_mask``)."""

    margin: int
    bbox_min_size: int
    bbox_max_size: int
    min_times: int
    max_times: int


@dataclass(frozen=True)
class LamaConfig:
    """One ``configs/data_gen/random_<kind>_<size>.yaml``: irregular_proba 1, box_proba 0.3 (thin: 0)."""

    size: int
    strokes: Strokes
    boxes: Boxes | None


#: The six configs; keys are the harness source names.
CONFIGS: dict[str, LamaConfig] = {
    "lama-thin-256": LamaConfig(256, Strokes(4, 50, 10, 4, 40), None),
    "lama-thin-512": LamaConfig(512, Strokes(4, 70, 20, 4, 100), None),
    "lama-medium-256": LamaConfig(256, Strokes(4, 5, 50, 4, 100), Boxes(0, 10, 50, 1, 5)),
    "lama-medium-512": LamaConfig(512, Strokes(4, 10, 100, 4, 200), Boxes(0, 30, 150, 1, 5)),
    "lama-thick-256": LamaConfig(256, Strokes(1, 5, 100, 4, 200), Boxes(10, 30, 150, 1, 3)),
    "lama-thick-512": LamaConfig(512, Strokes(1, 5, 250, 4, 450), Boxes(10, 30, 300, 1, 4)),
}
BOX_PROBA = 0.3


def _strokes(rng: np.random.RandomState, size: int, p: Strokes) -> np.ndarray:
    """``RandomIrregularMaskGenerator`` at ramp coefficient 1 (max_times + 1 reaches randint's
    exclusive bound twice: the wrapper adds 1 and the function adds 1)."""
    mask = np.zeros((size, size), np.float32)
    times = rng.randint(p.min_times, p.min_times + 1 + (p.max_times - p.min_times) + 1)
    for i in range(times):
        x, y = rng.randint(size), rng.randint(size)
        for _ in range(1 + rng.randint(5)):
            angle = 0.01 + rng.randint(p.max_angle)
            if i % 2 == 0:
                angle = 2 * 3.1415926 - angle  # upstream's literal, not math.pi
            length = 10 + rng.randint(p.max_len)
            width = 5 + rng.randint(p.max_width)
            end_x = np.clip((x + length * np.sin(angle)).astype(np.int32), 0, size)
            end_y = np.clip((y + length * np.cos(angle)).astype(np.int32), 0, size)
            cv2.line(mask, (x, y), (end_x, end_y), 1.0, width)  # on float32, 8-connected, as upstream
            x, y = end_x, end_y
    return mask


def _boxes(rng: np.random.RandomState, size: int, p: Boxes) -> np.ndarray:
    """``RandomRectangleMaskGenerator`` at ramp coefficient 1: bbox_max_size + 1, max_times as given."""
    mask = np.zeros((size, size), np.float32)
    largest = min(p.bbox_min_size + 1 + (p.bbox_max_size - p.bbox_min_size), size - 2 * p.margin)
    for _ in range(rng.randint(p.min_times, p.max_times + 1)):
        w, h = rng.randint(p.bbox_min_size, largest), rng.randint(p.bbox_min_size, largest)
        x = rng.randint(p.margin, size - p.margin - w + 1)
        y = rng.randint(p.margin, size - p.margin - h + 1)
        mask[y:y + h, x:x + w] = 1
    return mask


def _candidate(rng: np.random.RandomState, config: LamaConfig) -> np.ndarray:
    """One ``MixedMaskGenerator`` call: the kind draw happens even with a single kind."""
    probas = np.array([1.0] if config.boxes is None else [1.0, BOX_PROBA], dtype="float32")
    probas /= probas.sum()
    kind = rng.choice(len(probas), p=probas)
    return _strokes(rng, config.size, config.strokes) if kind == 0 else _boxes(rng, config.size, config.boxes)


def _process_image(rng: np.random.RandomState, config: LamaConfig) -> np.ndarray | None:
    """What ``process_images`` keeps for one square image, or None when it writes nothing."""
    candidates = [_candidate(rng, config) for _ in range(VARIANTS)]
    kept = []
    for mask in candidates:
        if not (mask > 0.5).any():
            return None  # upstream's crop proposal raises on an empty mask and the image is skipped
        # upstream's square crop is the identity here: its randint(0, 1) draws nothing from the stream
        if mask.mean() <= MAX_TAMPER_AREA:
            kept.append(mask)
    chosen = rng.choice(len(kept), size=min(len(kept), 1), replace=False)
    return kept[chosen[0]] if len(chosen) else None


def lama_mask(name: str, rng: np.random.RandomState) -> np.ndarray:
    """uint8 N x N mask (255 = hole) as LaMa's script saves it, drawn from ``rng``."""
    config = CONFIGS[name]
    for _ in range(MAX_ATTEMPTS):
        mask = _process_image(rng, config)
        if mask is not None:
            return np.clip(mask * 255, 0, 255).astype(np.uint8)
    raise RuntimeError(f"{name}: no mask passed max_tamper_area {MAX_TAMPER_AREA} in {MAX_ATTEMPTS} draws")
