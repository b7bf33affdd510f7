"""Content-addressed cache of predictions and per-image metrics.

The key of an output is sha256(predictor fingerprint, image hash, mask hash, resolution):
any change of weights, config, image or mask makes a new key, so nothing stale is ever
reused. Predictions are stored as float32 ``.npy`` (lossless: metrics from the cache equal
metrics from the live output exactly); metrics as one small JSON file per (key, profile).
All writes are atomic (harness.atomic), so a run killed at any point and started again
finishes with the results of an uninterrupted run, and runs sharing a cache never corrupt it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from harness.atomic import atomic_write_bytes, atomic_write_text

CACHE_VERSION = 1


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "inpainting-harness"))


def output_key(fingerprint: str, image_sha: str, mask_sha: str, size: int) -> str:
    blob = f"v{CACHE_VERSION}|{fingerprint}|{image_sha}|{mask_sha}|{size}".encode()
    return hashlib.sha256(blob).hexdigest()


class Cache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_root()

    def _output_path(self, key: str) -> Path:
        return self.root / "outputs" / key[:2] / f"{key}.npy"

    def _metrics_path(self, key: str, profile: str) -> Path:
        return self.root / "metrics" / profile / key[:2] / f"{key}.json"

    def has_output(self, key: str) -> bool:
        return self._output_path(key).is_file()

    def get_output(self, key: str) -> np.ndarray | None:
        """The cached float32 [3,H,W] prediction, or None (missing or unreadable)."""
        try:
            return np.load(self._output_path(key), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put_output(self, key: str, prediction: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(prediction, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self._output_path(key), buffer.getvalue())

    def get_metrics(self, key: str, profile: str) -> dict[str, float]:
        try:
            data = json.loads(self._metrics_path(key, profile).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def put_metrics(self, key: str, profile: str, values: dict[str, float]) -> None:
        merged = {**self.get_metrics(key, profile), **values}
        atomic_write_text(self._metrics_path(key, profile), json.dumps(merged, sort_keys=True))
