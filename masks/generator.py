"""Seeded procedural free-form masks that can fill any hole-ratio bucket.

Strokes in the spirit of DeepFill v2 / LaMa's irregular masks: random walks of thick line
segments with round joints. A mask for bucket [a, b) draws a target ratio uniformly in the
bucket and adds strokes until the target is reached; a mask that overshoots b is redrawn with
the next attempt number. Everything derives from ``numpy.random.default_rng([seed, ...])``,
so the same arguments always give the same mask on any machine.
"""
from __future__ import annotations

import cv2
import numpy as np

from masks.buckets import Bucket, hole_ratio

MAX_ATTEMPTS = 200


def _stroke(canvas: np.ndarray, rng: np.random.Generator) -> None:
    size = canvas.shape[0]
    width = int(rng.integers(max(2, size // 40), max(3, size // 8)))
    x, y = rng.uniform(0, size, 2)
    angle = rng.uniform(0, 2 * np.pi)
    for _ in range(int(rng.integers(2, 8))):
        angle += rng.normal(0, 0.9)
        length = rng.uniform(size / 16, size / 4)
        nx = float(np.clip(x + length * np.cos(angle), 0, size - 1))
        ny = float(np.clip(y + length * np.sin(angle), 0, size - 1))
        cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 1, width)
        cv2.circle(canvas, (int(nx), int(ny)), width // 2, 1, -1)
        x, y = nx, ny


def free_form_mask(size: int, bucket: Bucket, seed: int, index: int) -> np.ndarray:
    """float32 {0,1} size x size mask (1 = hole) whose hole ratio lies in ``bucket``."""
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, int(bucket.low * 1000), int(bucket.high * 1000), index, attempt])
        target = rng.uniform(max(bucket.low, 0.005), min(bucket.high, 0.95))
        canvas = np.zeros((size, size), np.uint8)
        while hole_ratio(canvas) < target:
            _stroke(canvas, rng)
        if bucket.contains(hole_ratio(canvas)):
            return canvas.astype(np.float32)
    raise RuntimeError(f"could not draw a mask in bucket {bucket.label} after {MAX_ATTEMPTS} attempts")
