"""MAT's published Places-512 table as a report view (``report --paper mat-places512``).

The numbers are MAT's README (fenglinglwb/MAT d273d89, "News" 2022.06.21: FID, P-IDS and U-IDS
of MAT, Co-Mod-GAN and big LaMa on Places365 at 512 with small and large masks), stored in
published_mat_places512.csv. Measured rows come only from runs made under the matching
protocol (``--protocol mat-places512-small`` / ``-large``, whose profile is ``mat``: MAT's own
feature extractor and statistics); a run under any other protocol or profile never reaches the
table, so a published column only ever meets its own kind of number. pandas and the table code
load when the view runs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

PUBLISHED_CSV = Path(__file__).with_name("published_mat_places512.csv")
TITLE = "MAT's Places-512 table (MAT README, fenglinglwb/MAT d273d89): published beside measured"
#: The table's mask columns and the protocol whose runs fill each.
PROTOCOLS = {"small": "mat-places512-small", "large": "mat-places512-large"}
#: Published metric -> the set-level column the mat profile writes.
COLUMNS = {"FID": "mat.FID", "P-IDS": "mat.P-IDS", "U-IDS": "mat.U-IDS"}
#: MAT prints P-IDS and U-IDS in percent; the harness stores fractions.
PERCENT = ("P-IDS", "U-IDS")


def published() -> Any:
    """The README's numbers: source, dataset, resolution, masks, method, training_images, metric, value."""
    import pandas as pd

    return pd.read_csv(PUBLISHED_CSV, dtype={"training_images": str})


def measured(records: Any, sets: Any) -> Any:
    """Per (method label, masks, metric): the value in MAT's units, n, failures, the run's
    deviations and ``small`` (under the metric's reliable size), from runs of the two protocols
    only; several runs of one protocol are an error."""
    import pandas as pd

    columns = ["method", "masks", "metric", "value", "n", "failures", "deviations"]
    if records is None or records.empty or "protocol_name" not in records or sets is None or sets.empty:
        return pd.DataFrame(columns=[*columns, "small"])
    rows = []
    for masks, protocol in PROTOCOLS.items():
        mine = records[records["protocol_name"] == protocol]
        runs = list(dict.fromkeys(mine["run"]))
        if len(runs) > 1:
            raise ValueError(f"records of --protocol {protocol} come from {len(runs)} runs ({', '.join(runs)}); the "
                             "table shows one measurement per cell: choose one run with --run NAME")
        if not runs:
            continue
        part = sets[(sets["run"] == runs[0]) & sets["metric"].isin(COLUMNS.values())]
        failed = mine[mine["status"] != "ok"].groupby("method").size()
        deviations = str(mine["deviations"].iloc[0] or "") if "deviations" in mine else ""
        for _, row in part.iterrows():
            metric = next(name for name, column in COLUMNS.items() if column == row["metric"])
            scale = 100.0 if metric in PERCENT else 1.0
            rows.append((row["method"], masks, metric, row["value"] * scale, row["n"],
                         int(failed.get(row["method"], 0)), deviations, str(row.get("note") or "").startswith("biased")))
    return pd.DataFrame(rows, columns=[*columns, "small"])


def view(records: Any, sets: Any, options: Any) -> list:
    """The README's rows, then one row per method measured under the protocols (n and failed
    items per mask column); without such runs the published numbers alone, saying so."""
    from harness.metrics.registry import higher_is_better
    from harness.reports.marks import OTHER_PROTOCOL, PUBLISHED_ONLY, SMALL_SAMPLE, direction
    from harness.reports.table import Cell, Column, Table, mark_note, note

    table, found = published(), measured(records, sets)
    columns = [Column("method"), Column("data")]
    for masks in PROTOCOLS:
        columns += [Column(m, f"{masks} masks", (direction(higher_is_better(m)),)) for m in COLUMNS]
        columns.append(Column("n (fail)", f"{masks} masks"))
    body = []
    for (method, data), part in table.groupby(["method", "training_images"], sort=False):
        values = part.set_index(["masks", "metric"])["value"]
        row = [Cell(method), Cell(data)]
        for masks in PROTOCOLS:
            row += [Cell(f"{values[(masks, m)]:.2f}", float(values[(masks, m)]), marks=(PUBLISHED_ONLY,)) for m in COLUMNS]
            row.append(Cell("–"))
        body.append(tuple(row))
    rows, used = [], set()
    for method, part in found.groupby("method", sort=False):
        row = [Cell(f"{method} (measured)"), Cell("")]
        for masks in PROTOCOLS:
            cells = part[part["masks"] == masks].set_index("metric")
            if cells.empty:
                row += [Cell("–", math.nan)] * len(COLUMNS) + [Cell("–")]
                continue
            deviates = (OTHER_PROTOCOL,) if cells["deviations"].iloc[0] else ()
            used.update(deviates)
            for metric in COLUMNS:
                value = cells["value"].get(metric, math.nan)
                marks = deviates + ((SMALL_SAMPLE,) if metric in cells.index and cells.loc[metric, "small"] else ())
                used.update(marks)
                row.append(Cell("–" if math.isnan(value) else f"{value:.2f}", float(value), marks=marks))
            row.append(Cell(f"{int(cells['n'].max())} ({int(cells['failures'].iloc[0])})"))
        rows.append(tuple(row))
    context = [note("protocol: " + ", ".join(PROTOCOLS.values())),
               note("P-IDS and U-IDS in percent, as MAT prints them; measured rows: runs of --protocol "
                    f"{' / '.join(PROTOCOLS.values())} only (profile mat)")]
    if not rows:
        context.append(note("No run of these protocols here: the published numbers alone."))
    for masks, deviations in found.groupby("masks", sort=False)["deviations"].first().items():
        if deviations:
            context.append(note(Cell(marks=(OTHER_PROTOCOL,)), f" {PROTOCOLS[masks]}: {deviations}"))
    notes = [mark_note(PUBLISHED_ONLY), *(mark_note(m) for m in (OTHER_PROTOCOL, SMALL_SAMPLE) if m in used)]
    return [Table(TITLE, tuple(columns), tuple(s for s in (tuple(body), tuple(rows)) if s), tuple(notes),
                  tuple(context), heading=True, stub=2)]
