"""Per-item features for set-level metrics (FID, KID, P-IDS, U-IDS), cached like outputs.

Features are taken from the uint8 composite as the reference code saves it (truncated by
MISF's and LaMa's scripts, rounded by MAT's: the extractor's ``to_uint8``) and from the uint8
ground truth; a ground truth's features are shared by every method. Adding a set-level metric to a finished run therefore computes only features,
and a rerun computes none. A bucket's value comes with a bootstrap interval over its items.
With set-state "sums" nothing is cached: FID comes from exact sums, the other metrics and the
intervals from a sample (:func:`state_rows`, docs/set-state.md).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from harness.store.cache import Cache, truth_key
from harness.hashing import sha256_json
from harness.metrics.functional import truncated
from harness.metrics.mergeable import FEATURE_RANGE, FRACTION_BITS, BucketState, frechet_from_sums
from harness.metrics.registry import Metric
from harness.metrics.setlevel import FRECHET_DDOF, bootstrap_interval
from harness.metrics.setsizes import MIN_SET_ITEMS, size_note


class FeatureStore:
    """One extractor's features in the cache (``extractor(uint8 [B,3,H,W]) -> [B,D]``, ``.identity``;
    its optional ``to_uint8`` turns the float images into what it reads, by default the truncation)."""

    def __init__(self, cache: Cache, extractor: Callable[[torch.Tensor], np.ndarray], size: int):
        self.cache, self.extractor, self.size = cache, extractor, size
        self.to_uint8 = getattr(extractor, "to_uint8", truncated)
        self.id = sha256_json(extractor.identity)[:32]
        self.computed = 0  # images passed through the extractor by this store

    def describe(self) -> dict[str, Any]:
        """What results record: the store's cache id, the extractor's identity, and (where the
        extractor says) its resize and its weights' provenance."""
        described = getattr(self.extractor, "describe", None)
        return {"id": self.id, **(described() if described else {"extractor": self.extractor.identity})}

    def keys(self, output_key: str, image_sha: str) -> tuple[str, str]:
        return output_key, truth_key(image_sha, self.size)

    def has(self, output_key: str, image_sha: str) -> bool:
        return all(self.cache.has_features(self.id, k) for k in self.keys(output_key, image_sha))

    def _extract(self, images: torch.Tensor) -> np.ndarray:
        self.computed += len(images)
        return self.extractor(self.to_uint8(images))

    def add(self, output_keys: Sequence[str], image_shas: Sequence[str], composites: torch.Tensor, truths: torch.Tensor) -> None:
        """Compute and cache the features of the composites, and of the truths not cached yet."""
        for key, row in zip(output_keys, self._extract(composites)):
            self.cache.put_features(self.id, key, row)
        missing = [i for i, sha in enumerate(image_shas) if not self.cache.has_features(self.id, truth_key(sha, self.size))]
        if missing:
            for i, row in zip(missing, self._extract(truths[missing])):
                self.cache.put_features(self.id, truth_key(image_shas[i], self.size), row)

    def extract(self, image_shas: Sequence[str], composites: torch.Tensor, truths: torch.Tensor
                ) -> tuple[np.ndarray, np.ndarray]:
        """(real, fake) float32 features of a batch, none of them cached (set-state sums keeps sums
        and a sample, in memory and in the run's parts); a truth's come from the cache when there."""
        fake = np.asarray(self._extract(composites), np.float32)
        real: list[np.ndarray | None] = [self.cache.read_features(self.id, truth_key(sha, self.size))[0] for sha in image_shas]
        missing = [i for i, row in enumerate(real) if row is None]
        if missing:
            for i, row in zip(missing, np.asarray(self._extract(truths[missing]), np.float32)):
                real[i] = row
        return np.array(real, np.float32).reshape(fake.shape), fake

    def read(self, output_keys: Sequence[str], image_shas: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(real [N,D], fake [N,D], positions whose features are missing or damaged)."""
        real, fake, bad = [], [], []
        for i, (key, sha) in enumerate(zip(output_keys, image_shas)):
            (f, _), (r, _) = self.cache.read_features(self.id, key), self.cache.read_features(self.id, truth_key(sha, self.size))
            if f is None or r is None:
                bad.append(i)
            else:
                fake.append(f)
                real.append(r)
        return np.array(real, np.float64), np.array(fake, np.float64), bad


def set_state(sample: int) -> dict[str, Any]:
    """What identifies set-state "sums" (method.json, each part): the sample's size and rule, the
    fixed point of the sums."""
    return {"mode": "sums", "sample": sample,
            "sample_rule": "per bucket of the manifest, the items with the smallest blake2b (16 bytes) of the item id; "
                           "those scored",
            "fixed_point": f"2^-{FRACTION_BITS}", "feature_range": FEATURE_RANGE}


def set_rows(
    bucket: str, real: np.ndarray, fake: np.ndarray, metrics: Sequence[Metric], n_resamples: int, seed: int = 0,
    features: str = "",
) -> list[dict[str, Any]]:
    """One row per set-level metric of a bucket: value, n, bootstrap interval, a note when biased,
    and the identity of the ``features`` it was computed from."""
    return [_row(bucket, metric, real, fake, n_resamples, seed, features) for metric in metrics]


def _row(bucket: str, metric: Metric, real: np.ndarray, fake: np.ndarray, n_resamples: int, seed: int, features: str,
         from_sums: Callable[[], float] | None = None, count: int | None = None) -> dict[str, Any]:
    """A metric's row over ``real`` and ``fake`` (its value, interval and size note); a FID of
    exact sums takes its value from ``from_sums`` and its n (``count``) from them too."""
    function = metric.load()
    n = len(real) if count is None else count
    row: dict[str, Any] = {"bucket": bucket, "metric": metric.name, "n": n, "value": float("nan"),
                           "ci_low": float("nan"), "ci_high": float("nan"), "note": "", "features": features}
    computed, row["note"] = size_note(metric.name, n, real.shape[1] if real.ndim == 2 else 0)
    if computed:
        row["value"] = float(function(real, fake) if from_sums is None else from_sums())
        if n_resamples and len(real) >= MIN_SET_ITEMS:
            row["ci_low"], row["ci_high"] = bootstrap_interval(real, fake, function, n_resamples, seed)
    return row


def state_rows(bucket: str, parts: Sequence[BucketState], sample: int, position: dict[str, int],
               metrics: Sequence[Metric], n_resamples: int, seed: int = 0, features: str = "") -> list[dict[str, Any]]:
    """Set-state "sums" of a bucket from its ``parts`` (one process: one part; the reducer: every
    part's): FID (both conventions) from the merged exact sums of every scored item; KID, P-/U-IDS
    and every bootstrap interval over the union of the parts' samples, its rows in item order
    (``position``). Each row's note says which: a features-mode row never reads the same. Where
    the sample holds every scored item, every value is computed from their features as features
    mode computes it (FID too: its sums' rounding, and below the feature dimension the full-rank
    route, would move it in the last digits), and the note says so."""
    if not parts:  # no item scored
        return set_rows(bucket, np.zeros((0, 0)), np.zeros((0, 0)), metrics, n_resamples, seed, features)
    state = BucketState.merge(parts, sample, position)
    count, taken = state.real.count, len(state.ids)
    if taken == count:
        rows = set_rows(bucket, state.real_sample, state.fake_sample, metrics, n_resamples, seed, features)
        every = f"all {count} scored items in the sample (--set-state sums): from their features, as features mode"
        return [{**row, "note": "; ".join(n for n in (row["note"], every) if n)} for row in rows]
    drawn = (f"a sample of {taken} of {count} items (those scored of the bucket's {sample} with the smallest blake2b "
             "of the item id)")
    rows = []
    for metric in metrics:
        ddof = FRECHET_DDOF.get(metric.key)
        if ddof is None:
            row, how = _row(bucket, metric, state.real_sample, state.fake_sample, n_resamples, seed, features), drawn
        else:
            row = _row(bucket, metric, state.real_sample, state.fake_sample, n_resamples, seed, features,
                       lambda: frechet_from_sums(state.real.frechet(), state.fake.frechet(), ddof), count)
            how = f"exact sums of {count} items (fixed point 2^-{FRACTION_BITS})" + (
                f"; interval over {drawn}" if n_resamples else "")
        row["note"] = "; ".join(n for n in (row["note"], how) if n)
        rows.append(row)
    return rows
