"""The numbers behind every plot, shared by the HTML report and the matplotlib figures so that
both show the same values: binned means with bootstrap intervals against the measured hole
ratio, per-bucket quantiles, and paired per-item differences between two methods.

Pure functions over one run's records (harness.store.records.load_records); runs are never pooled.
Failed items and NaN values are left out, as in :mod:`harness.reports.stats`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from harness.reports.stats import bootstrap_ci

#: Okabe & Ito's colour-blind-safe palette (black last: it marks the ground truth elsewhere).
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")
#: LaMa's evaluation groups items into 10 equal hole-ratio bins.
LAMA_BINS = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def colours(methods: Sequence[str]) -> dict[str, str]:
    """One palette colour per method, in order (cycling after eight)."""
    return {method: OKABE_ITO[index % len(OKABE_ITO)] for index, method in enumerate(methods)}


def bucket_edges(buckets: Sequence[str]) -> list[tuple[str, float, float]]:
    """(label, low, high) of percent bucket labels such as "20-40"; other labels are skipped."""
    edges = []
    for label in dict.fromkeys(buckets):
        low, _, high = str(label).partition("-")
        try:
            edges.append((str(label), float(low) / 100, float(high) / 100))
        except ValueError:
            continue
    return sorted(edges, key=lambda edge: edge[1])


def equal_bins(count: int = LAMA_BINS) -> list[tuple[str, float, float]]:
    """``count`` equal half-open bins over [0, 1] of the hole ratio (the last one closed)."""
    bounds = np.linspace(0.0, 1.0, count + 1)
    return [(f"{100 * lo:g}-{100 * hi:g}", float(lo), float(hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _in_bin(ratios: pd.Series, low: float, high: float) -> pd.Series:
    return (ratios >= low) & ((ratios < high) | ((high >= 1.0) & (ratios <= 1.0)))


def scored_items(records: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The scored items with a value of ``metric`` and a hole ratio."""
    ok = records[records["status"] == "ok"] if "status" in records else records
    return ok.dropna(subset=[metric, "hole_ratio"])


def _binned(values: pd.Series, ratios: pd.Series, bins, n_resamples: int, seed: int) -> list[dict]:
    rows = []
    for label, low, high in bins:
        chosen = values[_in_bin(ratios, low, high)].to_numpy(dtype=float)
        if chosen.size == 0:
            continue
        ci_low, ci_high = bootstrap_ci(chosen, n_resamples=n_resamples, seed=seed)
        rows.append({"bin": label, "low": low, "high": high, "center": float(np.mean(ratios[_in_bin(ratios, low, high)])),
                     "n": int(chosen.size), "mean": float(chosen.mean()), "ci_low": ci_low, "ci_high": ci_high})
    return rows


def hole_ratio_curve(records: pd.DataFrame, metric: str, bins, n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per method and bin: items ``n``, ``mean`` of ``metric``, its bootstrap 95 % interval and the
    bin's mean hole ratio (``center``, where the point is drawn). ``bins``: (label, low, high)."""
    part = scored_items(records, metric)
    rows = [{"method": method, **row}
            for method, group in part.groupby("method", sort=False)
            for row in _binned(group[metric], group["hole_ratio"], bins, n_resamples, seed)]
    return pd.DataFrame(rows, columns=["method", "bin", "low", "high", "center", "n", "mean", "ci_low", "ci_high"])


def bucket_quantiles(records: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per method and bucket: ``n``, ``mean`` and the 5/25/50/75/95th percentiles (box plots:
    box = quartiles, whiskers = 5th and 95th percentiles)."""
    part = scored_items(records, metric)
    rows = []
    for (method, bucket), group in part.groupby(["method", "bucket"], sort=False):
        values = group[metric].to_numpy(dtype=float)
        q = np.quantile(values, QUANTILES)
        rows.append({"method": method, "bucket": bucket, "n": int(values.size), "mean": float(values.mean()),
                     **{f"q{round(100 * p):02d}": float(v) for p, v in zip(QUANTILES, q)}})
    return pd.DataFrame(rows, columns=["method", "bucket", "n", "mean", "q05", "q25", "q50", "q75", "q95"])


def paired_items(records: pd.DataFrame, method_a: str, method_b: str, metric: str) -> pd.DataFrame:
    """Items both methods scored: item_id, bucket, hole_ratio, a, b and ``diff`` = a − b."""
    part = scored_items(records, metric)
    sides = [part[part["method"] == m].set_index("item_id")[["bucket", "hole_ratio", metric]] for m in (method_a, method_b)]
    pairs = sides[0].join(sides[1][[metric]].rename(columns={metric: f"{metric}_b"}), how="inner").rename(columns={metric: f"{metric}_a"})
    pairs = pairs.rename(columns={f"{metric}_a": "a", f"{metric}_b": "b"}).reset_index()
    pairs["diff"] = pairs["a"] - pairs["b"]
    return pairs[["item_id", "bucket", "hole_ratio", "a", "b", "diff"]]


def paired_curve(records: pd.DataFrame, method_a: str, method_b: str, metric: str, bins,
                 n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per bin: pairs ``n``, mean of a − b and its paired bootstrap 95 % interval."""
    pairs = paired_items(records, method_a, method_b, metric)
    rows = _binned(pairs["diff"], pairs["hole_ratio"], bins, n_resamples, seed)
    return pd.DataFrame(rows, columns=["bin", "low", "high", "center", "n", "mean", "ci_low", "ci_high"])

