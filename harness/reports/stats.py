"""Confidence for per-image metric records: cell means, bootstrap intervals, paired tests.

Pure functions over a records DataFrame (columns ``run``, ``method``, ``dataset``, ``bucket``,
``item_id``, ``status`` and one column per metric; a frame without ``run`` or ``status`` is
one run of scored items); no I/O. A *cell* is one (run, method, dataset, bucket, metric):
runs are never pooled, since two runs are two protocols or two sets of data. NaN values
(failed items, LPIPS when unavailable) are left out of every statistic and failed items are
counted per cell.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from harness.metrics.registry import higher_is_better, metric_columns
CELL_KEYS: tuple[str, ...] = ("run", "method", "dataset", "bucket")

#: Fewest values for a 95 % percentile bootstrap interval: with n values, the resample of n
#: copies of the smallest has probability n**-n, above the 2.5 % tail for n <= 3, so the
#: "interval" is the data's range (n = 1: zero width). Fewer values give no interval.
MIN_INTERVAL_ITEMS = 4
#: Fewest pairs for a paired decision: with 5 or fewer the two-sided exact Wilcoxon signed-rank
#: p-value cannot fall below 0.05 (2 / 2**5 = 0.0625).
MIN_PAIRS = 6

#: Most resampled values held in memory at once by :func:`bootstrap_means`.
_CHUNK_ELEMENTS = 1 << 22


def bootstrap_means(values: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` resamples with replacement of ``values`` (seeded, vectorised)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // max(1, values.size))
    chunks = [
        values[rng.integers(0, values.size, size=(min(rows, n_resamples - start), values.size))].mean(axis=1)
        for start in range(0, n_resamples, rows)
    ]
    return np.concatenate(chunks)


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; NaNs dropped, ``(nan, nan)`` below
    :data:`MIN_INTERVAL_ITEMS` values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < MIN_INTERVAL_ITEMS:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(bootstrap_means(values, n_resamples, seed), [tail, 1.0 - tail])
    return float(low), float(high)


def _complete(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with ``run`` and ``status`` present (hand-made frames: one run, all scored)."""
    defaults = {k: v for k, v in (("run", ""), ("status", "ok")) if k not in records}
    return records.assign(**defaults) if defaults else records


def failures(records: pd.DataFrame, keys: Sequence[str] = CELL_KEYS) -> pd.Series:
    """Failed items per cell key (0 where none failed)."""
    records = _complete(records)
    return (records["status"] != "ok").groupby([records[k] for k in keys], sort=False).sum().astype(int)


def _long(records: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Records melted to one row per (keys, metric, value), NaN values dropped."""
    records = _complete(records)
    records = records[records["status"] == "ok"]
    present = metric_columns(records.columns) if metrics is None else [m for m in metrics if m in records.columns]
    long = records.melt(id_vars=list(keys), value_vars=present, var_name="metric", value_name="value")
    return long.dropna(subset=["value"])


def _with_failures(table: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    counts = failures(records).rename("failures")
    return table.join(counts, on=list(CELL_KEYS)).fillna({"failures": 0}).astype({"failures": int})


def cell_means(records: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per cell: ``n`` (images with a value), ``mean`` and ``failures`` (failed items of the cell)."""
    keys = [*CELL_KEYS, "metric"]
    grouped = _long(records, CELL_KEYS, metrics).groupby(keys, sort=False)["value"]
    return _with_failures(grouped.agg(n="count", mean="mean").reset_index(), records)


def cell_confidence(
    records: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`cell_means` plus the bootstrap interval of each mean (``ci_low``, ``ci_high``);
    ``note`` says where too few values leave a cell without one."""
    keys = [*CELL_KEYS, "metric"]
    long = _long(records, CELL_KEYS, metrics)
    rows = [
        (*key, len(group), group.mean(), *bootstrap_ci(group.to_numpy(), confidence, n_resamples, seed),
         "" if len(group) >= MIN_INTERVAL_ITEMS else f"no interval: n < {MIN_INTERVAL_ITEMS}")
        for key, group in long.groupby(keys, sort=False)["value"]
    ]
    return _with_failures(pd.DataFrame(rows, columns=[*keys, "n", "mean", "ci_low", "ci_high", "note"]), records)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero."""
    if not np.any(differences):
        return 1.0
    return float(scipy_stats.wilcoxon(differences).pvalue)


#: Level of the Wilcoxon signed-rank test shown beside the interval's decision.
WILCOXON_ALPHA = 0.05


def _favoured(metric: str, a_higher: bool, method_a: str, method_b: str) -> str:
    return method_a if a_higher == higher_is_better(metric) else method_b


def _winner(metric: str, ci_low: float, ci_high: float, method_a: str, method_b: str) -> str:
    """The better method when the interval of mean(a − b) excludes zero, else ``"none"``."""
    if ci_low > 0 or ci_high < 0:
        return _favoured(metric, ci_low > 0, method_a, method_b)
    return "none"


def _wilcoxon_winner(metric: str, differences: np.ndarray, p: float, method_a: str, method_b: str) -> str:
    """The method the Wilcoxon test favours at :data:`WILCOXON_ALPHA`, on the side its signed ranks
    lean to (zeros dropped, as the test drops them), else ``"none"``."""
    if not p < WILCOXON_ALPHA:
        return "none"
    nonzero = differences[differences != 0]
    signed = float(np.sum(np.sign(nonzero) * scipy_stats.rankdata(np.abs(nonzero))))
    return "none" if signed == 0 else _favoured(metric, signed > 0, method_a, method_b)


def paired_comparison(
    records: pd.DataFrame,
    method_a: str,
    method_b: str,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Which of two methods is better, per run, bucket and metric, on the items both scored.

    Items are matched on (run, dataset, bucket, item_id). ``mean_diff`` is mean(a − b) with its
    paired bootstrap interval; ``better`` names the method favoured by the metric's direction
    when that interval excludes zero, else ``"none"``: the interval decides, since it is about the
    mean the tables show. ``p_wilcoxon`` is the two-sided Wilcoxon signed-rank p-value of the same
    differences and ``wilcoxon_better`` its verdict at :data:`WILCOXON_ALPHA`; the two can differ
    (a few large differences move the mean, the ranks follow the typical item), and ``agree`` says
    whether they do. Below :data:`MIN_PAIRS` pairs there is no interval, no p-value and both verdicts
    say why nothing is decided. ``failed_a``/``failed_b`` count the items of the cell each method
    failed (left out of the pairs).
    """
    records = _complete(records)
    keys = ["run", "dataset", "bucket", "item_id"]
    sides = [_long(records[records["method"] == m], keys, metrics) for m in (method_a, method_b)]
    pairs = sides[0].merge(sides[1], on=[*keys, "metric"], suffixes=("_a", "_b"), validate="one_to_one")
    failed = {m: failures(records[records["method"] == m], ["run", "dataset", "bucket"]) for m in (method_a, method_b)}
    rows = []
    for (run, dataset, bucket, metric), group in pairs.groupby(["run", "dataset", "bucket", "metric"], sort=False):
        diff = (group["value_a"] - group["value_b"]).to_numpy()
        if len(diff) >= MIN_PAIRS:
            low, high = bootstrap_ci(diff, confidence, n_resamples, seed)
            p, better = wilcoxon_p(diff), _winner(metric, low, high, method_a, method_b)
            ranks = _wilcoxon_winner(metric, diff, p, method_a, method_b)
        else:  # too few pairs for any test: say so, decide nothing
            low = high = p = float("nan")
            better = ranks = f"undecided: {len(diff)} pair(s), a test needs {MIN_PAIRS}"
        rows.append(
            (run, dataset, bucket, metric, len(group), *(int(failed[m].get((run, dataset, bucket), 0)) for m in (method_a, method_b)),
             group["value_a"].mean(), group["value_b"].mean(), diff.mean(), low, high, better, p, ranks, better == ranks)
        )
    columns = ["run", "dataset", "bucket", "metric", "n_pairs", "failed_a", "failed_b", "mean_a", "mean_b",
               "mean_diff", "ci_low", "ci_high", "better", "p_wilcoxon", "wilcoxon_better", "agree"]
    return pd.DataFrame(rows, columns=columns)


def set_confidence(set_metrics: pd.DataFrame) -> pd.DataFrame:
    """Set-level results (harness.store.records.load_set_metrics) in :func:`cell_confidence`'s columns."""
    columns = [*CELL_KEYS, "metric", "n", "mean", "ci_low", "ci_high", "failures", "note"]
    if set_metrics.empty:
        return pd.DataFrame(columns=columns)
    return set_metrics.rename(columns={"value": "mean"}).assign(failures=np.nan, note=set_metrics["note"].fillna(""))[columns]
