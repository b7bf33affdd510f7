"""The MISF paper's report views, registered in :mod:`misf.plugin`: ``report --paper TABLE``,
``report --reproduction`` and the HTML report's section of published tables.

pandas and the table code are imported when a view runs, so ``harness --help`` stays light.
"""
from __future__ import annotations

import argparse
from typing import Any


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def paper_view(records: Any, sets: Any, args: argparse.Namespace) -> str:
    """``--paper table2|table3|table4``: the paper's layout, measured beside published."""
    from misf.paper.tables import paper_table

    return paper_table(records, args.paper, args.format, _csv(args.extra_methods))


def reproduction_view(records: Any, sets: Any, args: argparse.Namespace) -> str:
    """``--reproduction``: measured - published per cell against tolerances, and the paper's claims."""
    from misf.paper.tables import render_reproduction

    return render_reproduction(records, fmt=args.format)


def html_paper_tables(records: Any, dataset: str | None) -> list[dict[str, Any]]:
    """The HTML section: Tables 2-4 for runs of the paper's datasets (``dataset`` None: published only)."""
    from misf.paper.tables import DATASET_LABELS

    if dataset is not None and dataset not in DATASET_LABELS:
        return []
    return paper_tables(records)


def paper_tables(records: Any) -> list[dict[str, Any]]:
    """The paper's Tables 2-4: published beside measured, the difference coloured by how far it
    lies from the published value relative to the reproduction tolerance."""
    import pandas as pd

    from harness.metrics.registry import digits, higher_is_better
    from harness.reports.html.viewmodel import _text
    from harness.reports.marks import METHOD_MARKS, PUBLISHED_ONLY, RUN_FLAGS
    from misf.paper.tables import DATASET_LABELS, DEFAULT_TOLERANCES, RATIO_LABELS, TABLE_TITLES, TABLES, table_columns, table_frame

    tables = []
    for name in TABLES:
        frame = table_frame(records, name)
        columns = table_columns(name)
        body = []
        for metric, block in frame.groupby("metric", sort=False):
            tolerance = DEFAULT_TOLERANCES[metric]
            for method, cells in block.groupby("method", sort=False):
                out = []
                for _, cell in cells.iterrows():
                    entry = {"published": _text(cell["published"], metric), "measured": None, "diff": None, "tone": "",
                             "best": cell["rank"] == 1, "n": None}
                    if not pd.isna(cell["measured"]):
                        entry.update(measured=_text(cell["measured"], metric), n=f"{int(cell['n'])} ({int(cell['failures'])} failed)")
                        if not pd.isna(cell["diff"]):
                            diff = float(cell["diff"])
                            better = diff > 0 if higher_is_better(metric) else diff < 0
                            entry["diff"] = f"{diff:+.{digits(metric)}f}"
                            entry["tone"] = "near" if abs(round(diff, digits(metric))) <= tolerance else ("better" if better else "worse")
                    out.append(entry)
                marks = "".join(METHOD_MARKS[flag].text for flag in RUN_FLAGS if cells[flag].any())
                first = not body or body[-1]["metric_name"] != metric
                body.append({"metric": f"{metric} {'↑' if higher_is_better(metric) else '↓'}", "metric_name": metric,
                             "span": block["method"].nunique() if first else 0, "method": method + marks,
                             "harness": cells["harness"].iloc[0] if isinstance(cells["harness"].iloc[0], str) else "",
                             "cells": out})
        tables.append({"name": name, "title": TABLE_TITLES[name], "measured": bool(frame["measured"].notna().any()),
                       "columns": [f"{DATASET_LABELS.get(d, d)} {RATIO_LABELS.get(r, r)}" for d, r in columns],
                       "rows": body, "tolerances": ", ".join(f"{m} {t:g}" for m, t in DEFAULT_TOLERANCES.items()),
                       "published_only": PUBLISHED_ONLY.meaning})
    return tables
