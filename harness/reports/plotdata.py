"""The numbers behind every plot, shared by the HTML report and the matplotlib figures so that
both show the same values: binned means with bootstrap intervals against the measured hole
ratio, per-bucket quantiles, and paired per-item differences between two methods.

Pure functions over one run's records (harness.store.records.load_records); runs are never pooled.
Failed items and NaN values are left out, as in :mod:`harness.reports.stats`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from harness.reports.stats import bootstrap_ci

#: One colour per method, in this order: chosen for the largest smallest CIEDE2000 distance between
#: any two of the first k colours (k = 2..10; all ten at least 22 apart, no two blues alike), each
#: far from the white background; from Okabe & Ito's, Tol's and matplotlib's tab10 palettes.
PALETTE = ("#0072B2", "#E69F00", "#CC79A7", "#117733", "#000000", "#D62728", "#332288", "#44AA99", "#882255", "#7F7F7F")
#: Marker shapes and line dashes (names both the HTML report's canvas and matplotlib draw), so that
#: a line hidden behind another still shows its markers, and colour alone never tells methods apart.
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross", "star", "triangle-left",
           "triangle-right")
DASHES = ("solid", "dashed", "dashdot", "dotted")
#: Colour of single-series plots (the paired difference).
SINGLE = PALETTE[0]
#: LaMa's evaluation groups items into 10 equal hole-ratio bins.
LAMA_BINS = 10
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    dash: str


def styles(methods: Sequence[str]) -> dict[str, Style]:
    """Each method's colour, marker and dash, by position; past ten methods the markers shift by
    one per round, so no two of the first hundred methods share a (colour, marker) pair."""
    out = {}
    for index, method in enumerate(methods):
        rounds, place = divmod(index, len(PALETTE))
        out[method] = Style(PALETTE[place], MARKERS[(place + rounds) % len(MARKERS)], DASHES[index % len(DASHES)])
    return out


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

