"""The MISF paper's report views, registered in :mod:`misf.plugin`: ``report --view
paper-table2|3|4`` (``--paper TABLE``), ``--view reproduction`` and the HTML report's section of
published tables. Each builds :class:`harness.reports.table.Table` objects any style renders.

pandas and the table code are imported when a view runs, so ``harness --help`` stays light.
"""
from __future__ import annotations

from typing import Any


def _paper(table: str):
    """The builder of the view paper-``table``: the paper's layout, measured beside published."""
    def build(records: Any, sets: Any, options: Any) -> list:
        from misf.paper.tables import paper_layout

        return [paper_layout(records, table, options.extra_methods)]

    return build


table2, table3, table4 = _paper("table2"), _paper("table3"), _paper("table4")


def reproduction(records: Any, sets: Any, options: Any) -> list:
    """Measured - published per cell against tolerances, and the paper's claims."""
    from misf.paper.tables import reproduction_tables

    return reproduction_tables(records)


def html_paper_tables(records: Any, dataset: str | None) -> list[dict[str, Any]]:
    """The HTML section: Tables 2-4 for runs of the paper's datasets (``dataset`` None: published only)."""
    from misf.paper.tables import DATASET_LABELS

    if dataset is not None and dataset not in DATASET_LABELS:
        return []
    return paper_tables(records)


def paper_tables(records: Any) -> list[dict[str, Any]]:
    """The paper's Tables 2-4 (:func:`misf.paper.tables.paper_layout`): published beside measured, the
    difference coloured against the reproduction tolerance; the metric sections only."""
    from harness.reports.html import style
    from harness.reports.marks import PUBLISHED_ONLY
    from misf.paper.tables import DEFAULT_TOLERANCES, TABLES, paper_layout

    tables = []
    for name in TABLES:
        table = paper_layout(records, name)
        body = []
        for section in table.sections:
            metric = section[0][0].data.get("metric")
            if metric is None:  # the images-scored section
                continue
            for first, method, *cells in section:
                body.append({"metric": style.text(section[0][0]), "metric_name": metric, "span": len(section) if first.text else 0,
                             "method": style.text(method), "harness": method.data["harness"],
                             "cells": [_paper_cell(c, metric, DEFAULT_TOLERANCES[metric]) for c in cells]})
        measured = any(c.data.get("measured") is not None for row in table.rows for c in row)
        tables.append({"name": name, "title": table.title, "measured": measured, "columns": style.body_headers(table),
                       "rows": body, "tolerances": ", ".join(f"{m} {t:g}" for m, t in DEFAULT_TOLERANCES.items()),
                       "published_only": PUBLISHED_ONLY.meaning})
    return tables


def _paper_cell(cell: Any, metric: str, tolerance: float) -> dict[str, Any]:
    """A cell of the HTML paper table: published, measured and difference coloured by how far it
    lies from the published value relative to the reproduction tolerance."""
    from harness.metrics.registry import digits, higher_is_better
    from harness.reports.html.viewmodel import _text

    facts = cell.data
    entry = {"published": _text(facts.get("published"), metric), "measured": None, "diff": None, "tone": "",
             "best": cell.rank == 1, "n": None}
    if facts.get("measured") is not None:
        entry.update(measured=_text(facts["measured"], metric), n=f"{int(facts['n'])} ({int(facts['failures'])} failed)")
        if facts["diff"] is not None:
            diff = facts["diff"]
            better = diff > 0 if higher_is_better(metric) else diff < 0
            entry["diff"] = f"{diff:+.{digits(metric)}f}"
            entry["tone"] = "near" if abs(round(diff, digits(metric))) <= tolerance else ("better" if better else "worse")
    return entry
