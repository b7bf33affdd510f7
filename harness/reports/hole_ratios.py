"""Hole-ratio histograms of a run's masks: how many scored items fall in each tenth of [0, 1].

A protocol's numbers depend on how large its holes are; LaMa and MAT describe their mask sets by
this histogram. The counts are of the manifest's measured ratio of each item's mask, as scored
(at the run's size, after binarisation), in ten equal bins with the last one closed
(masks.seeded.hole_ratio_histogram). A run has one mask source, so one histogram per run: the
HTML report's section ``hole-ratios`` and the text view ``hole-ratios`` (``harness report
--view hole-ratios``), both built here.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from harness.reports.table import Cell, Column, Table, note

if TYPE_CHECKING:
    import pandas as pd


def histogram_table(run: str, ratios: Sequence[float], protocol: str = "") -> Table:
    """The histogram of ``ratios`` (one per item) of run ``run``; ``protocol``: its protocol line
    (which names the mask set), shown above the table."""
    from masks.seeded import hole_ratio_histogram

    counts = hole_ratio_histogram(list(ratios))
    total = sum(count for _, _, count in counts)
    rows = tuple((Cell(f"{low:.0%}–{high:.0%}" + (" (closed)" if high == 1.0 else "")), Cell(str(count), count),
                  Cell(f"{count / total:.1%}" if total else "–", count / total if total else None))
                 for low, high, count in counts)
    return Table(f"Hole ratios · run {run}", (Column("hole ratio"), Column("items"), Column("share")), (rows,),
                 (note(f"{total} items: each item's mask as scored (ratio measured at the run's size)"),),
                 (note(f"Protocol: {protocol}"),) if protocol else (), heading=True)


def view(records: "pd.DataFrame", sets: Any, options: Any) -> list[Table]:
    """One histogram per run of ``records``, from each item's recorded hole ratio."""
    if records.empty or "hole_ratio" not in records:
        return []
    tables = []
    for run, part in records.groupby("run", sort=False):
        items = part.dropna(subset=["hole_ratio"]).drop_duplicates("item_id")
        protocol = str(part["protocol"].iloc[0]) if "protocol" in part else ""
        tables.append(histogram_table(run, items["hole_ratio"].tolist(), protocol))
    return tables


def html_section(run_dir: Path) -> list[dict[str, Any]]:
    """The HTML section of one run: its histogram from the manifest, as headers, rows with a bar
    width, and notes (texts the page's template escapes)."""
    from harness.store.csvfiles import read_csv
    from harness.store.records import read_run

    manifest = Path(run_dir) / "manifest.csv"
    if not manifest.is_file():
        return []
    spec, summary = read_run(Path(run_dir))
    ratios = read_csv(manifest, ["item_id"])["hole_ratio"].astype(float).tolist()
    table = histogram_table(Path(run_dir).name, ratios, summary.get("protocol", spec.describe()))
    most = max((row[1].value for row in table.rows), default=0) or 1
    return [{"title": f"Hole ratios of the masks ({spec.masks or 'the dataset default'})",
             "headers": [c.text for c in table.columns],
             "rows": [{"cells": [c.text for c in row], "bar": round(100 * row[1].value / most, 1)} for row in table.rows],
             "notes": ["".join(c.text for c in n) for n in table.notes]}]
