"""Content-addressed cache of predictions and per-image metrics.

An output's key is ``<fingerprint[:16]>-<sha256(fingerprint, image hash, mask hash, size)>``,
where the fingerprint covers the method, its weights, config and code versions: any change of
them, of the image or of the mask makes a new key, so nothing stale is ever reused, and the
prefix groups one method's entries (``harness cache prune --method``). Predictions are stored
as float32 ``.npy`` (lossless: metrics from the cache equal metrics from the live output
exactly); metrics as one small JSON file per (key, profile and its version).

Every read is validated (shape, dtype, finiteness; metric values are finite numbers): a bad
entry is reported as damaged and treated as a miss, so it is recomputed and replaced. All
writes are atomic (harness.atomic): a run killed at any point and started again finishes with
the results of an uninterrupted run, and runs sharing a cache never corrupt it.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_write_bytes, atomic_write_text

CACHE_VERSION = 2
PREFIX = 16  # characters of the fingerprint that prefix a key and name its folder


def cache_root() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "inpainting-harness"))


def output_key(fingerprint: str, image_sha: str, mask_sha: str, size: int) -> str:
    blob = f"v{CACHE_VERSION}|{fingerprint}|{image_sha}|{mask_sha}|{size}".encode()
    return f"{fingerprint[:PREFIX]}-{hashlib.sha256(blob).hexdigest()[:48]}"


def truth_key(image_sha: str, size: int) -> str:
    """The features key of a ground-truth image (shared by every method)."""
    return "truth-" + hashlib.sha256(f"v{CACHE_VERSION}|{image_sha}|{size}".encode()).hexdigest()[:48]


def validate_output(array: Any, shape: tuple[int, ...] | None = None) -> str | None:
    """Why a cached prediction is unusable, or None."""
    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
        return f"dtype {getattr(array, 'dtype', type(array).__name__)} (expected float32)"
    if array.ndim != 3 or array.shape[0] != 3 or (shape is not None and tuple(array.shape) != tuple(shape)):
        return f"shape {array.shape} (expected {shape or '(3, H, W)'})"
    if not np.isfinite(array).all():
        return "non-finite values"
    return None


def validate_metrics(data: Any) -> str | None:
    """Why a cached metrics entry is unusable, or None."""
    if not isinstance(data, dict):
        return f"not a JSON object ({type(data).__name__})"
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} is {value!r}, not a finite number"
    return None


class Cache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_root()

    def output_path(self, key: str) -> Path:
        return self.root / "outputs" / key[:PREFIX] / key[PREFIX + 1 : PREFIX + 3] / f"{key}.npy"

    def metrics_path(self, key: str, profile: str) -> Path:
        return self.root / "metrics" / profile / key[:PREFIX] / key[PREFIX + 1 : PREFIX + 3] / f"{key}.json"

    def read_output(self, key: str, shape: tuple[int, ...] | None = None) -> tuple[np.ndarray | None, str | None]:
        """(prediction, None), (None, None) when absent, or (None, why it is damaged)."""
        path = self.output_path(key)
        if not path.is_file():
            return None, None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            return None, f"unreadable ({type(error).__name__})"
        problem = validate_output(array, shape)
        return (None, problem) if problem else (array, None)

    def get_output(self, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        return self.read_output(key, shape)[0]

    def put_output(self, key: str, prediction: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(prediction, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self.output_path(key), buffer.getvalue())

    def read_metrics(self, key: str, profile: str) -> tuple[dict[str, float], str | None]:
        """(metrics, None); ({}, None) when absent; ({}, why it is damaged)."""
        path = self.metrics_path(key, profile)
        if not path.is_file():
            return {}, None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            return {}, f"unreadable ({type(error).__name__})"
        problem = validate_metrics(data)
        return ({}, problem) if problem else ({k: float(v) for k, v in data.items()}, None)

    def get_metrics(self, key: str, profile: str) -> dict[str, float]:
        return self.read_metrics(key, profile)[0]

    def put_metrics(self, key: str, profile: str, values: dict[str, float], merge: bool = True) -> None:
        merged = {**(self.get_metrics(key, profile) if merge else {}), **values}
        atomic_write_text(self.metrics_path(key, profile), json.dumps(merged, sort_keys=True))

    def features_path(self, extractor: str, key: str) -> Path:
        """Features of one image (``key``: an output key, or :func:`truth_key` for the ground truth)."""
        return self.root / "features" / extractor[:PREFIX] / key[-2:] / f"{key}.npy"

    def read_features(self, extractor: str, key: str) -> tuple[np.ndarray | None, str | None]:
        path = self.features_path(extractor, key)
        if not path.is_file():
            return None, None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            return None, f"unreadable ({type(error).__name__})"
        if array.dtype != np.float32 or array.ndim != 1 or not np.isfinite(array).all():
            return None, f"features of dtype {array.dtype}, shape {array.shape} (expected finite float32 [D])"
        return array, None

    def put_features(self, extractor: str, key: str, features: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(features, dtype=np.float32), allow_pickle=False)
        atomic_write_bytes(self.features_path(extractor, key), buffer.getvalue())

    def describe_method(self, fingerprint: str, info: dict[str, Any]) -> None:
        """Remember what a fingerprint prefix is (for ``harness cache info`` and ``prune --method``)."""
        path = self.root / "methods" / f"{fingerprint[:PREFIX]}.json"
        try:
            labels = set(json.loads(path.read_text()).get("labels", []))
        except (OSError, ValueError, AttributeError):
            labels = set()
        labels.add(info.get("label", ""))
        atomic_write_text(path, json.dumps({**info, "labels": sorted(labels - {""})}, indent=1, sort_keys=True, default=str))
