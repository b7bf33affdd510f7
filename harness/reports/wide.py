"""The paper-style layout of a run's results: one row per method, each metric a group of columns,
one per hole-ratio bucket, so a method's trend across ratios reads along its row (as the MISF
paper's Table 2 reads across mask ratios). It has no n and fail columns: n and failures per
bucket are the first note under it (:func:`harness.reports.report.sample_notes`), which names
every method whose n differs or that failed items. Best values, marks and the empty-column
notes are those of the long results table.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.metrics.registry import higher_is_better, metric_columns
from harness.reports.marks import direction
from harness.reports.report import _context as context  # the long table's title and protocol lines, shared as they are
from harness.reports.report import block_facts, bucket_order, empty_notes, method_cell, metric_cell, sample_notes
from harness.reports.table import Cell, Column, Table, mark_note


def wide_tables(records: pd.DataFrame, combine: bool = False, set_metrics: pd.DataFrame | None = None) -> list[Table]:
    """One wide table per block of ``records`` (a run and dataset, or with ``combine`` a dataset);
    its data is the block's aggregate, as the long table's."""
    if records.empty:
        return []
    table, data, best, biased = block_facts(records, combine, set_metrics)
    tables = []
    for block, part in table.groupby("block", sort=False):
        buckets = bucket_order(part["bucket"])
        metrics = [m for m in metric_columns(part.columns) if part[m].notna().any()]
        columns = [Column("method")] + [Column(b, f"{m} {direction(higher_is_better(m)).text}") for m in metrics for b in buckets]
        rows, used = [], []
        for method, mine in part.groupby("method", sort=False):
            cells = mine.set_index("bucket")
            row = [method_cell(method, mine)]
            for metric in metrics:
                for bucket in buckets:
                    row.append(metric_cell(cells.loc[bucket], method, bucket, metric, best, biased)
                               if bucket in cells.index else Cell("–", math.nan))
            used += [mark for cell in row for mark in cell.marks]
            rows.append(tuple(row))
        title, lines = context(part, combine)
        notes = [*sample_notes(part), *(mark_note(m) for m in dict.fromkeys(used)), *empty_notes(part, set_metrics)]
        tables.append(Table(title, tuple(columns), (tuple(rows),), tuple(notes), tuple(lines), heading=True,
                            data=data[table["block"] == block]))
    return tables
