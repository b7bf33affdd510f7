"""The report's plots as matplotlib figures for papers (PNG and PDF), from :mod:`harness.reports.plotdata`
so they show the numbers the HTML report shows: a metric against the measured hole ratio,
per-bucket distributions, and the paired difference between two methods.

Readable at column width (9 pt text, DejaVu Sans embedded as TrueType); each method has its own
colour, marker and dash (:func:`harness.reports.plotdata.styles`), and the marks of
:mod:`harness.reports.marks` in legends (‡ random weights, † reads the ground truth).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from harness.reports import plotdata
from harness.reports.marks import RUN_FLAGS, flagged
from harness.metrics.registry import higher_is_better

STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "pdf.fonttype": 42, "font.family": "DejaVu Sans", "axes.spines.top": False,
         "axes.spines.right": False}
KINDS = ("hole-ratio", "buckets", "paired")
#: matplotlib's names of plotdata's markers and dashes.
_MARKERS = {"circle": "o", "square": "s", "triangle": "^", "diamond": "D", "triangle-down": "v", "plus": "P",
            "cross": "X", "star": "*", "triangle-left": "<", "triangle-right": ">"}
_DASHES = {"solid": "-", "dashed": "--", "dashdot": "-.", "dotted": ":"}


def _figure(width: float = 4.2, height: float = 3.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _label(records: pd.DataFrame, method: str) -> str:
    rows = records[records["method"] == method]
    flags = {key: bool(rows[key].any()) for key in RUN_FLAGS if key in rows}
    return flagged(method, flags)


def _points(count: int) -> dict:
    """Scatter style: many items fainter and smaller, so the binned means stay visible (as the HTML report)."""
    return {"s": 9 if count <= 2000 else 2, "alpha": min(0.5, max(0.04, 150 / max(1, count))), "linewidths": 0}


def _arrow(metric: str) -> str:
    return f"{metric} ({'higher' if higher_is_better(metric) else 'lower'} is better)"


def hole_ratio_figure(records: pd.DataFrame, metric: str, bins, methods: Sequence[str] | None = None,
                      points: bool = True, n_resamples: int = 2000):
    """Per-item points (faint) and binned means with bootstrap 95 % bands; each method its colour,
    marker and dash."""
    import matplotlib

    methods = list(methods or dict.fromkeys(records["method"]))
    palette = plotdata.styles(methods)
    curve = plotdata.hole_ratio_curve(records[records["method"].isin(methods)], metric, bins, n_resamples)
    with matplotlib.rc_context(STYLE):
        figure = _figure()
        axis = figure.subplots()
        scored = plotdata.scored_items(records, metric)
        for method in methods:
            style = palette[method]
            if points:
                mine = scored[scored["method"] == method]
                axis.scatter(100 * mine["hole_ratio"], mine[metric], color=style.colour, **_points(len(mine)))
            line = curve[curve["method"] == method]
            axis.fill_between(100 * line["center"], line["ci_low"], line["ci_high"], color=style.colour, alpha=0.12, linewidth=0)
            # no white halo here: it would blank out the lines and markers drawn before (their dashes show through instead)
            axis.plot(100 * line["center"], line["mean"], color=style.colour, marker=_MARKERS[style.marker],
                      linestyle=_DASHES[style.dash], linewidth=1.5, markersize=5, markeredgecolor="white",
                      markeredgewidth=0.5, label=_label(records, method), zorder=3)
        axis.set_xlabel("measured hole ratio (%)")
        axis.set_ylabel(_arrow(metric))
        axis.legend(frameon=False)
    return figure


def bucket_figure(records: pd.DataFrame, metric: str, methods: Sequence[str] | None = None):
    """Box plots per bucket and method: quartiles, median, whiskers at the 5th and 95th percentiles, the mean
    as the method's marker."""
    import matplotlib

    methods = list(methods or dict.fromkeys(records["method"]))
    palette = plotdata.styles(methods)
    stats = plotdata.bucket_quantiles(records[records["method"].isin(methods)], metric)
    buckets = [label for label, _, _ in plotdata.bucket_edges(stats["bucket"])] or list(dict.fromkeys(stats["bucket"]))
    buckets += [b for b in dict.fromkeys(stats["bucket"]) if b not in buckets]
    width = 0.8 / max(1, len(methods))
    with matplotlib.rc_context(STYLE):
        figure = _figure(max(4.2, 1.2 + 0.35 * len(buckets) * len(methods)), 3.0)
        axis = figure.subplots()
        for index, method in enumerate(methods):
            rows = stats[stats["method"] == method].set_index("bucket")
            boxes, positions = [], []
            for position, bucket in enumerate(buckets):
                if bucket in rows.index:
                    row = rows.loc[bucket]
                    boxes.append({"med": row["q50"], "q1": row["q25"], "q3": row["q75"], "whislo": row["q05"],
                                  "whishi": row["q95"], "mean": row["mean"], "fliers": [], "label": method})
                    positions.append(position - 0.4 + width * (index + 0.5))
            colour, marker = palette[method].colour, _MARKERS[palette[method].marker]
            if boxes:
                axis.bxp(boxes, positions=positions, widths=width * 0.85, showmeans=True, patch_artist=True,
                         boxprops={"facecolor": colour, "alpha": 0.6, "edgecolor": colour},
                         medianprops={"color": "black"}, whiskerprops={"color": colour}, capprops={"color": colour},
                         meanprops={"marker": marker, "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 3.5})
            axis.plot([], [], marker, color=colour, label=_label(records, method))
        axis.set_xticks(range(len(buckets)), buckets)
        axis.set_xlabel("hole-ratio bucket (%)")
        axis.set_ylabel(_arrow(metric))
        axis.legend(frameon=False, fontsize=8)
    return figure


def paired_figure(records: pd.DataFrame, method_a: str, method_b: str, metric: str, bins, n_resamples: int = 2000):
    """Per-item a − b against the hole ratio, binned mean differences with paired bootstrap bands, zero line."""
    import matplotlib

    pairs = plotdata.paired_items(records, method_a, method_b, metric)
    curve = plotdata.paired_curve(records, method_a, method_b, metric, bins, n_resamples)
    with matplotlib.rc_context(STYLE):
        figure = _figure()
        axis = figure.subplots()
        colour = plotdata.SINGLE
        axis.axhline(0, color="0.4", linewidth=0.8)
        axis.scatter(100 * pairs["hole_ratio"], pairs["diff"], color=colour, **_points(len(pairs)))
        axis.fill_between(100 * curve["center"], curve["ci_low"], curve["ci_high"], color=colour, alpha=0.25, linewidth=0)
        axis.plot(100 * curve["center"], curve["mean"], "-o", color=colour, markersize=4.5,
                  markeredgecolor="white", markeredgewidth=0.5, label=f"mean difference, 95% CI (n={len(pairs)} pairs)", zorder=3)
        better = method_a if higher_is_better(metric) else method_b
        axis.set_xlabel("measured hole ratio (%)")
        axis.set_ylabel(f"{metric}: {_label(records, method_a)} − {_label(records, method_b)}")
        axis.set_title(f"above zero: {better} better", fontsize=8)
        axis.legend(frameon=False)
    return figure


def write_plots(records: pd.DataFrame, output: Path, metrics: Sequence[str], kinds: Sequence[str] = KINDS,
                bins=None, pair: tuple[str, str] | None = None, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Every requested figure of one run as ``<kind>-<metric>.<format>`` in ``output``; ``bins``
    default to the run's buckets; the paired plot needs ``pair``."""
    output.mkdir(parents=True, exist_ok=True)
    bins = bins or plotdata.bucket_edges(records["bucket"].dropna())
    written = []
    for metric in metrics:
        figures = {}
        if "hole-ratio" in kinds:
            figures["hole-ratio"] = hole_ratio_figure(records, metric, bins)
        if "buckets" in kinds:
            figures["buckets"] = bucket_figure(records, metric)
        if "paired" in kinds and pair:
            figures[f"paired-{pair[0]}-vs-{pair[1]}"] = paired_figure(records, pair[0], pair[1], metric, bins)
        for name, figure in figures.items():
            for fmt in formats:
                path = output / f"{name}-{metric}.{fmt}"
                figure.savefig(path, dpi=200)
                written.append(path)
    return written
