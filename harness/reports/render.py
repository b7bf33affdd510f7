"""One way to print a table of numbers in each output format, with metric-aware precision.

Specialised layouts (the per-run tables of harness.reports.report, the paper's tables) build their
own rows; every other table (confidence intervals, paired tests, reproduction summaries,
profile comparisons) is a DataFrame printed here. Every format is honoured: markdown, LaTeX
(booktabs) and CSV (full precision, for other tools).
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd
from tabulate import tabulate

from harness.reports import latex
from harness.metrics.registry import digits

FORMATS = ("markdown", "latex", "csv")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose from {', '.join(FORMATS)}")
    return fmt


def _formatted(frame: pd.DataFrame, metric_columns: Iterable[str], metric_of_row: str | None, signed: Iterable[str]) -> pd.DataFrame:
    """Values of ``metric_columns`` as text at their metric's printed precision.

    With ``metric_of_row`` each row's metric names the precision (long tables: one metric per
    row); otherwise the column's own name does (wide tables: one metric per column).
    """
    out = frame.copy()
    for name in metric_columns:
        if name not in out:
            continue
        places = [digits(m) for m in frame[metric_of_row]] if metric_of_row else [digits(name)] * len(frame)
        sign = "+" if name in signed else ""
        out[name] = ["" if pd.isna(v) else f"{v:{sign}.{p}f}" for v, p in zip(frame[name], places)]
    return out


def table(
    frame: pd.DataFrame,
    fmt: str = "markdown",
    metric_columns: Iterable[str] = (),
    metric_of_row: str | None = None,
    title: str | None = None,
    notes: Iterable[str] = (),
    signed: Iterable[str] = ("diff", "mean_diff"),
) -> str:
    """``frame`` as markdown, LaTeX or CSV (CSV keeps full precision and no title or notes);
    ``signed`` columns show their sign (differences)."""
    check_format(fmt)
    if fmt == "csv":
        return frame.to_csv(index=False)
    shown = _formatted(frame, metric_columns, metric_of_row, tuple(signed))
    escape = latex.escape if fmt == "latex" else str
    if fmt == "latex":
        shown = shown.rename(columns=lambda c: latex.escape(str(c))).map(lambda v: latex.escape(v) if isinstance(v, str) else v)
    body = tabulate(shown, headers="keys", tablefmt="latex_raw" if fmt == "latex" else "github", showindex=False,
                    disable_numparse=True)
    parts = [escape(title)] if title else []
    parts += [body, *(escape(n) for n in notes)]
    return "\n\n".join(parts) + "\n"
