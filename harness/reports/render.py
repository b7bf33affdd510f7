"""Any DataFrame as text: :func:`harness.reports.table.frame_table` rendered in one output format.

The specialised layouts (the per-run tables of harness.reports.report, the paper's tables) build their
own :class:`harness.reports.table.Table`; every other table (confidence intervals, paired tests,
reproduction summaries, profile comparisons) is a DataFrame printed here, with metric-aware
precision. CSV keeps the frame at full precision, for other tools.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from harness.reports.table import frame_table, render


def table(
    frame: pd.DataFrame,
    fmt: str = "markdown",
    metric_columns: Iterable[str] = (),
    metric_of_row: str | None = None,
    title: str = "",
    signed: Iterable[str] = ("diff", "mean_diff"),
) -> str:
    """``frame`` in the text format ``fmt``; ``signed`` columns show their sign (differences)."""
    return render(frame_table(frame, metric_columns, metric_of_row, title, signed), fmt)
