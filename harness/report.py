"""Tables from records: per dataset, methods as rows, bucket × metric as columns.

Reads only the run folders' per-image records (no recomputation). Means are over images of
the bucket, as the official MISF test averages per-image values.
"""
from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from harness import latex
from harness.metric_names import HIGHER_IS_BETTER, METRICS

DIGITS = {"PSNR": 2, "SSIM": 4, "L1": 2, "LPIPS": 4}
GT_MARK = "†"
GT_NOTE = f"{GT_MARK} the method's official preprocessing reads the uncorrupted image (e.g. CTSDG's edges)."


def aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """Mean of each metric and image count per (dataset, method, bucket)."""
    if records.empty:
        return pd.DataFrame(columns=["dataset", "method", "bucket", "n", *METRICS])
    present = [m for m in METRICS if m in records]
    grouped = records.groupby(["dataset", "method", "bucket"], sort=False)
    table = grouped[present].mean().reindex(columns=list(METRICS))
    table.insert(0, "n", grouped.size())
    return table.reset_index()


def _bucket_order(buckets) -> list[str]:
    def key(label: str) -> tuple[float, str]:
        head = label.split("-")[0]
        return (float(head), label) if head.replace(".", "", 1).isdigit() else (math.inf, label)

    return sorted(set(buckets), key=key)


def wide_table(aggregates: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """methods × (bucket, metric) means for one dataset, metrics with any value only."""
    part = aggregates[aggregates["dataset"] == dataset]
    metrics = [m for m in METRICS if part[m].notna().any()]
    wide = part.pivot(index="method", columns="bucket", values=metrics)
    order = [(m, b) for b in _bucket_order(part["bucket"]) for m in metrics]
    wide = wide.reindex(columns=pd.MultiIndex.from_tuples(order))
    return wide.reindex(list(dict.fromkeys(part["method"])))


def _format(value: float, metric: str) -> str:
    return "–" if pd.isna(value) else f"{value:.{DIGITS[metric]}f}"


def _best(column: pd.Series, metric: str) -> float | None:
    values = column.dropna()
    if values.empty:
        return None
    return values.max() if HIGHER_IS_BETTER[metric] else values.min()


def _label(method: str, gt_methods: set[str]) -> str:
    return f"{method}{GT_MARK}" if method in gt_methods else method


def render(records: pd.DataFrame, fmt: str = "markdown") -> str:
    """All datasets in ``records`` as markdown, LaTeX (booktabs) or CSV."""
    aggregates = aggregate(records)
    if fmt == "csv":
        return aggregates.to_csv(index=False)
    gt_methods = set(records.loc[records.get("reads_ground_truth", False) == True, "method"]) if not records.empty else set()  # noqa: E712
    blocks = []
    for dataset in dict.fromkeys(aggregates["dataset"]):
        wide = wide_table(aggregates, dataset)
        blocks.append(_latex(wide, dataset, gt_methods) if fmt == "latex" else _markdown(wide, dataset, gt_methods))
    if gt_methods:
        blocks.append(GT_NOTE if fmt != "latex" else f"% {GT_NOTE}")
    return "\n\n".join(blocks) if blocks else "No records found."


def _arrow(metric: str) -> str:
    return "↑" if HIGHER_IS_BETTER[metric] else "↓"


def _markdown(wide: pd.DataFrame, dataset: str, gt_methods: set[str]) -> str:
    headers = ["method"] + [f"{b} {m}{_arrow(m)}" for m, b in wide.columns]
    best = {col: _best(wide[col], col[0]) for col in wide.columns}
    rows = []
    for method, row in wide.iterrows():
        cells = [
            f"**{_format(v, m)}**" if best[(m, b)] is not None and v == best[(m, b)] and len(wide) > 1 else _format(v, m)
            for (m, b), v in row.items()
        ]
        rows.append([_label(method, gt_methods), *cells])
    return f"### {dataset}\n\n" + tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def _latex(wide: pd.DataFrame, dataset: str, gt_methods: set[str]) -> str:
    buckets = list(dict.fromkeys(b for _, b in wide.columns))
    metrics = list(dict.fromkeys(m for m, _ in wide.columns))
    arrows = {"↑": r"$\uparrow$", "↓": r"$\downarrow$"}
    best = {col: _best(wide[col], col[0]) for col in wide.columns}
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + latex.escape(dataset) + r"}",
        r"\begin{tabular}{l" + "c" * len(wide.columns) + "}",
        r"\toprule",
        " & ".join(["Method"] + [rf"\multicolumn{{{len(metrics)}}}{{c}}{{{latex.escape(b)}\%}}" for b in buckets]) + r" \\",
        "".join(rf"\cmidrule(lr){{{2 + i * len(metrics)}-{1 + (i + 1) * len(metrics)}}}" for i in range(len(buckets))),
        " & ".join([""] + [f"{m}{arrows[_arrow(m)]}" for _, m in ((b, m) for b in buckets for m in metrics)]) + r" \\",
        r"\midrule",
    ]
    for method, row in wide.iterrows():
        cells = []
        for (m, b), v in row.items():
            text = _format(v, m).replace("–", "--")
            cells.append(rf"\textbf{{{text}}}" if best[(m, b)] is not None and v == best[(m, b)] and len(wide) > 1 else text)
        name = latex.escape(method) + (r"$^\dagger$" if method in gt_methods else "")
        lines.append(" & ".join([name, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)
