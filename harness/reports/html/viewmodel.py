"""From run data to what the page shows: plain dicts and lists, no HTML.

Each run is its own section (runs are never pooled). The template renders the protocol card,
the tables and the paper's tables from this; the page's script draws the plots and the image
browser from ``data`` (JSON), whose statistics come from :mod:`harness.reports.plotdata` and
:mod:`harness.reports.stats`, so the PDF figures of ``harness plot`` show the same numbers.
"""
from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from harness.reports import plotdata
from harness.reports.html.data import Fig7Result, RunData
from harness.reports.marks import LOSSY, OTHER_PROTOCOL, READS_GROUND_TRUTH, RESIZED, SUPPLIED, UNTRAINED
from harness.metrics.registry import digits, higher_is_better, metric_columns
from harness.reports.report import results_tables
from harness.reports.stats import cell_confidence, set_confidence
from harness.reports.wide import wide_tables
from harness.reports.html import style


FIG7_COLUMNS = {"ncc_pre": "pre-filtered, all cells", "ncc_post": "filtered, all cells",
                "ncc_pre_hole": "pre-filtered, hole cells", "ncc_post_hole": "filtered, hole cells"}


def _number(value: Any, places: int) -> float | None:
    """A JSON number rounded a little finer than printed (enough for sorting and plotting)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return round(value, places) if math.isfinite(value) else None


def _text(value: Any, metric: str) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits(metric)}f}"


def _interval(low: float, high: float, metric: str) -> str:
    """An interval with true minus signs and a spaced dash, so "−62.9 – −14.8" reads as two numbers."""
    return " – ".join(_text(v, metric).replace("-", "−") for v in (low, high))


def card(run: RunData) -> dict[str, Any]:
    """The protocol card: what was measured, how, with what, and the labels that qualify it."""
    spec, summary = run.spec, run.summary
    methods = run.methods
    profiles = sorted({str((info.get("profile") or {}).get("name", spec.profile)) + " v" +
                       str((info.get("profile") or {}).get("version", "?")) for info in methods.values()})
    versions: dict[str, str] = {}
    for info in methods.values():
        versions.update({k: v for k, v in (info.get("versions") or {}).items() if v})
    commits = sorted({str(info.get("git_commit"))[:12] for info in methods.values() if info.get("git_commit")})
    sizes = summary.get("bucket_sizes") or {}
    fields = [
        *([("published protocol", spec.protocol_name)] if spec.protocol_name else []),  # --protocol (docs/protocols.md)
        ("dataset", spec.dataset + (f" ({spec.data_root})" if spec.data_root else "")),
        ("mask set", (spec.masks or "default") + (f" ({spec.mask_root})" if spec.mask_root else "")),
        ("buckets", spec.buckets or "the dataset's own"),
        ("items per bucket", ", ".join(f"{b}: {n}" for b, n in sizes.items()) or "–"),
        ("input failures", str(summary.get("input_failures", 0))),
        ("seed", str(spec.seed)), ("size", f"{spec.size} px"), ("resize", spec.resize),
        ("limit", str(spec.limit) if spec.limit else "none (whole test set)"),
        ("metric profile(s)", ", ".join(profiles) or spec.profile),
        ("data fingerprint", str(summary.get("data_fingerprint", "–"))[:16]),
        ("code", ", ".join(commits) or "–"),
        ("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "–"),
    ]
    method_rows = [{"label": label, "method": info.get("method", label), "checkpoint": str(info.get("checkpoint") or "–"),
                    "fingerprint": str(info.get("fingerprint") or "")[:12], "complete": bool(info.get("complete", True)),
                    "device": str(info.get("device") or "–")} for label, info in methods.items()]
    labels = []
    for flag, mark, text in (("untrained", UNTRAINED, "random weights"), ("reads_ground_truth", READS_GROUND_TRUTH,
                             "reads ground truth"), ("resized", RESIZED, "resized from the model's native size"),
                            ("supplied", SUPPLIED, "predictions supplied as files"), ("lossy", LOSSY, "lossy prediction files")):
        flagged_labels = [label for label, info in methods.items() if info.get(flag)]
        if flagged_labels:
            labels.append({"kind": "warn", "mark": mark.text, "text": f"{text}: {', '.join(flagged_labels)}",
                           "meaning": mark.meaning})
    deviations = summary.get("deviations", spec.deviations())
    if deviations:
        labels.append({"kind": "info", "mark": OTHER_PROTOCOL.text, "text": "non-paper protocol: " + "; ".join(deviations),
                       "meaning": OTHER_PROTOCOL.meaning})
    else:
        labels.append({"kind": "ok", "mark": "", "text": f"protocol {spec.protocol_name}" if spec.protocol_name
                       else "the paper's protocol", "meaning": ""})
    return {"fields": fields, "methods": method_rows, "labels": labels, "protocol": summary.get("protocol", spec.describe())}


def results_table(run: RunData, n_resamples: int = 2000) -> dict[str, Any]:
    """The run's results table (:func:`harness.reports.report.results_tables`, best values marked by the
    means over the items every method scored) as one row per (method, bucket): n, failures,
    each metric's mean with its bootstrap 95 % interval."""
    table = results_tables(run.records, set_metrics=run.sets)[0]
    intervals = pd.concat([cell_confidence(run.records, n_resamples=n_resamples), set_confidence(run.sets)], ignore_index=True)
    intervals = intervals.set_index(["method", "bucket", "metric"])
    buckets = list(dict.fromkeys(c.group for c in table.columns[table.stub:]))
    width = (len(table.columns) - table.stub) // len(buckets)  # per bucket: n, fail, the metrics
    metrics = table.columns[table.stub + 2:table.stub + width]
    rows = []
    for row in table.rows:
        method = row[0].text
        for start, bucket in zip(range(table.stub, len(row), width), buckets):
            n, failures, *cells = row[start:start + 2 + len(metrics)]
            if not n.value and not failures.value:  # no item of this method in this bucket
                continue
            values = []
            for column, cell in zip(metrics, cells):
                key = (method, bucket, column.text)
                low, high = (intervals.loc[key, ["ci_low", "ci_high"]] if key in intervals.index else (None, None))
                values.append({"value": _number(cell.value, digits(column.text) + 3), "text": style.text(cell),
                               "ci": _interval(low, high, column.text) if low is not None and not pd.isna(low) else "",
                               "best": cell.rank == 1})
            rows.append({"method": method, "label": style.text(row[0]), "bucket": bucket, "n": int(n.value),
                         "failures": int(failures.value), "values": values})
    headers = [{"name": c.text, "arrow": "".join(m.html for m in c.marks), "higher": higher_is_better(c.text)} for c in metrics]
    return {"metrics": headers, "rows": rows, "buckets": buckets, "legend": style.notes(table),
            "methods": [row[0].text for row in table.rows]}


def paper_section(records: pd.DataFrame | None, dataset: str | None) -> list[dict[str, Any]]:
    """The published tables a plug-in lays out beside the measurements (the registry's HTML
    section ``paper``; none without it). ``dataset`` None: every table, published values only."""
    from harness.registry import HTML_SECTIONS

    return HTML_SECTIONS.get("paper")(records, dataset) if "paper" in HTML_SECTIONS else []


def run_sections(run_dir: Path) -> list[dict[str, Any]]:
    """The registry's other HTML sections of one run (``hole-ratios``, a plug-in's): each gives
    dicts of title, headers, rows (cells and a bar width in percent) and notes."""
    from harness.registry import HTML_SECTIONS

    return [part for name in HTML_SECTIONS if name not in ("paper", "fig7") for part in HTML_SECTIONS.get(name)(run_dir)]


def _curves(records: pd.DataFrame, metric: str, bins, n_resamples: int) -> dict[str, list[dict]]:
    curve = plotdata.hole_ratio_curve(records, metric, bins, n_resamples)
    return {method: [_row(r) for r in part.to_dict("records")] for method, part in curve.groupby("method", sort=False)}


def _row(row: dict) -> dict:
    return {k: (_number(v, 6) if isinstance(v, float) else v) for k, v in row.items() if k != "method"}


def plot_data(run: RunData, metrics: Sequence[str], methods: Sequence[str], n_resamples: int) -> dict[str, Any]:
    """Binned curves (run buckets and LaMa's 10 bins), box-plot quantiles and every pair's binned differences."""
    records = run.records
    binnings = {"buckets": plotdata.bucket_edges(records["bucket"].dropna()), "lama": plotdata.equal_bins()}
    curves = {name: {m: _curves(records, m, bins, n_resamples) for m in metrics} for name, bins in binnings.items()}
    boxes = {m: {method: [_row(r) for r in part.to_dict("records")]
                 for method, part in plotdata.bucket_quantiles(records, m).groupby("method", sort=False)} for m in metrics}
    pairs = {}
    for a, b in combinations(methods, 2):
        pairs[f"{a}\u0000{b}"] = {name: {m: [_row(r) for r in plotdata.paired_curve(records, a, b, m, bins, n_resamples).to_dict("records")]
                                         for m in metrics} for name, bins in binnings.items()}
    return {"curves": curves, "boxes": boxes, "pairs": pairs}


def items_data(run: RunData, methods: Sequence[str], metrics: Sequence[str]) -> dict[str, Any]:
    """Columns of the image browser: every item of the run (failed ones too), its image's name (the
    item's title; the id, image and mask, stays a tooltip) and each method's values."""
    records = run.records
    order = list(dict.fromkeys(records["item_id"]))
    index = {item: i for i, item in enumerate(order)}
    first = records.drop_duplicates("item_id").set_index("item_id").reindex(order)
    values: dict[str, dict[str, list]] = {}
    failures: dict[str, dict[int, str]] = {}
    for method in methods:
        mine = records[records["method"] == method].drop_duplicates("item_id").set_index("item_id").reindex(order)
        values[method] = {m: [_number(v, digits(m) + 3) for v in mine[m]] if m in mine else [None] * len(order) for m in metrics}
        bad = mine[mine["status"].fillna("missing") != "ok"]
        failures[method] = {index[i]: (f"{row.stage}: {row.reason}" if isinstance(row.reason, str) else "not scored")
                            for i, row in zip(bad.index, bad.itertuples())}
    names = first["image_id"] if "image_id" in first else pd.Series(order, index=first.index)
    return {"id": order, "image": [str(name) if isinstance(name, str) else item for name, item in zip(names, order)],
            "bucket": [str(b) for b in first["bucket"]],
            "ratio": [_number(r, 4) for r in first["hole_ratio"]], "values": values, "failures": failures}


def fig7_view(result: Fig7Result, picture: str | None) -> dict[str, Any]:
    """Per bucket: items and mean NCC before and after filtering (global and hole cells)."""
    values = result.values
    present = [c for c in FIG7_COLUMNS if c in values]
    rows = []
    for bucket, part in values.groupby("bucket", sort=False):
        rows.append({"bucket": bucket, "n": len(part), "values": [f"{part[c].mean():.4f}" for c in present]})
    attrs = values.attrs
    return {"folder": result.folder.name, "picture": picture, "columns": [FIG7_COLUMNS[c] for c in present], "rows": rows,
            "method": attrs.get("method", "?"), "untrained": bool(attrs.get("untrained")),
            "definition": attrs.get("definition", "")}


def run_view(run: RunData, key: str, images: dict[str, Any] | None, fig7_pictures: dict[str, str],
             n_resamples: int = 2000, pair: tuple[str, str] | None = None) -> dict[str, Any]:
    """Everything one run's section shows; ``images`` describes its pictures (or None)."""
    results = results_table(run, n_resamples)
    methods = results["methods"]
    metrics = [m for m in metric_columns(run.records.columns) if run.records[m].notna().any()]
    palette = {method: vars(style) for method, style in plotdata.styles(methods).items()}
    flags = {row["method"]: row["label"] for row in results["rows"]}
    chosen = pair if pair and all(p in methods for p in pair) else tuple(methods[:2])
    data = {
        "key": key, "methods": methods, "labels": flags, "styles": palette, "single": plotdata.SINGLE, "pair": list(chosen),
        "metrics": [{"name": m, "higher": higher_is_better(m), "digits": digits(m)} for m in metrics],
        "buckets": results["buckets"], "items": items_data(run, methods, metrics), "images": images,
        **plot_data(run, metrics, methods, n_resamples),
    }
    return {
        "key": key, "name": run.name, "dataset": run.spec.dataset, "card": card(run), "results": results,
        "wide": style.table_view(wide_tables(run.records, set_metrics=run.sets)[0]),
        "paper": paper_section(run.records, run.spec.dataset), "sections": run_sections(run.path),
        "fig7": [fig7_view(f, fig7_pictures.get(str(f.folder))) for f in run.fig7], "data": data,
    }
