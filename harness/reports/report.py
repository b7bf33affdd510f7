"""Tables from records: one block per run (one protocol on one set of data), methods as rows,
bucket × (n, fail, metrics) as columns.

Reads only the run folders' per-item records (no recomputation). Means are over the scored
images of the bucket, as the official MISF test averages per-image values. Runs are never
pooled unless asked (``combine``), and then the block says which runs it combines. A method
that scored fewer items than another is marked, and best values are chosen by the means over
the items every method of the block scored, so no method wins on easier items.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.reports.marks import OTHER_PROTOCOL, RUN_FLAGS, SMALL_SAMPLE, direction, method_marks
from harness.metrics.registry import digits, higher_is_better, metric_columns
from harness.reports.table import Cell, Column, Note, Row, Table, mark_note, note
from harness.reports.table import render as render_tables

FLAGS = (*RUN_FLAGS, "complete")
_DEFAULTS = {"run": "", "status": "ok", **dict.fromkeys(RUN_FLAGS, False), "complete": True, "protocol": "", "deviations": ""}


def prepare(records: pd.DataFrame, combine: bool = False) -> pd.DataFrame:
    """Records with every column the tables need, and ``block``: one table's key, the run and
    dataset (a run has one dataset), or with ``combine`` the dataset alone, its runs pooled and
    ``run`` naming them. Missing columns get neutral defaults (for hand-made frames)."""
    records = records.copy()
    for column, value in _DEFAULTS.items():
        if column not in records:
            records[column] = value
    records["deviations"] = records["deviations"].fillna("")
    if combine:
        runs = records.groupby("dataset")["run"].agg(lambda r: ", ".join(dict.fromkeys(r)))
        records["run"] = records["dataset"].map(lambda d: f"combined: {runs[d]}")
    records["block"] = records["run"].astype(str) + " | " + records["dataset"].astype(str)
    return records


def _partial(records: pd.DataFrame) -> pd.Series:
    """Per (block, method): True when another method of its block scored an item it did not."""
    ok = records[records["status"] == "ok"]
    union = ok.groupby(["block", "bucket"])["item_id"].nunique()
    mine = ok.groupby(["block", "bucket", "method"])["item_id"].nunique()
    short = mine < union.reindex(mine.index.droplevel("method")).to_numpy()
    partial = short.groupby(level=["block", "method"]).any()
    everyone = records.groupby(["block", "method"]).size().index
    return partial.reindex(everyone, fill_value=True)  # a method with no scored item at all is partial too


def aggregate(records: pd.DataFrame, combine: bool = False, set_metrics: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (block, run, dataset, method, bucket): ``n`` scored items, ``failures``, metric means, flags,
    and the set-level metrics of ``set_metrics`` (harness.store.records.load_set_metrics; never pooled)."""
    keys = ["block", "run", "dataset", "method", "bucket"]
    metrics = metric_columns(records.columns)
    columns = [*keys, "n", "failures", *metrics, *RUN_FLAGS, "complete", "partial", "deviations"]
    if records.empty:
        return pd.DataFrame(columns=columns)
    records = prepare(records, combine)
    ok = records["status"] == "ok"
    grouped = records.groupby(keys, sort=False)
    table = records[ok].groupby(keys, sort=False)[metrics].mean()
    table = table.reindex(grouped.size().index)
    table.insert(0, "failures", (~ok).groupby([records[k] for k in keys], sort=False).sum())
    table.insert(0, "n", ok.groupby([records[k] for k in keys], sort=False).sum())
    flags = grouped[list(RUN_FLAGS)].any().join(grouped[["complete"]].all())
    table = table.join(flags).join(grouped["deviations"].first())
    table = table.reset_index()
    partial = _partial(records)
    table["partial"] = [bool(partial.get((b, m), False)) for b, m in zip(table["block"], table["method"])]
    table = table[columns].astype({"n": int, "failures": int})
    if set_metrics is not None and len(set_metrics) and not combine:
        values = set_metrics.pivot_table(index=["run", "dataset", "method", "bucket"], columns="metric", values="value",
                                         aggfunc="first", dropna=False)  # a metric with no value keeps its column (and note)
        table = table.join(values, on=["run", "dataset", "method", "bucket"])
        split = columns.index(RUN_FLAGS[0])
        table = table[[*columns[:split], *metric_columns(values.columns), *columns[split:]]]
    return table


def best_methods(records: pd.DataFrame) -> dict[tuple[str, str, str], set[str]]:
    """(block, bucket, metric) → the best method(s), by means over the items every method scored.

    Methods without any value of a metric (e.g. LPIPS unavailable) take no part for that metric.
    Blocks with a single method, and metrics on which every method ties, have no best.
    """
    best: dict[tuple[str, str, str], set[str]] = {}
    ok = records[records["status"] == "ok"]
    for (block, bucket), part in ok.groupby(["block", "bucket"], sort=False):
        for metric in metric_columns(part.columns):
            values = part.pivot_table(index=["run", "item_id"], columns="method", values=metric, aggfunc="first")
            values = values.dropna(axis=1, how="all").dropna(axis=0, how="any")
            if values.shape[1] < 2 or values.empty:
                continue
            means = values.mean()
            target = means.max() if higher_is_better(metric) else means.min()
            if (means == target).all():  # every method ties: nobody is best
                continue
            best[(block, bucket, metric)] = set(means.index[means == target])
    return best


def bucket_order(buckets) -> list[str]:
    """Bucket labels by their lower bound (0-20 before 20-40), others after them by name."""
    def key(label: str) -> tuple[float, str]:
        head = label.split("-")[0]
        return (float(head), label) if head.replace(".", "", 1).isdigit() else (math.inf, label)

    return sorted(set(buckets), key=key)


def _format(value: float, metric: str) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits(metric)}f}"


#: Why a metric column can be empty, said in a note instead of a column that silently vanishes.
UNSCORED = {"LPIPS": "--no-lpips, or its VGG16 backbone was not available offline: see the README's LPIPS paragraph"}


def _block_rows(table: pd.DataFrame, best: dict, biased: set = frozenset(), counts: bool = True,
                set_metrics: pd.DataFrame | None = None) -> tuple[list[Column], list[Row], list, list]:
    """Columns, rows, the marks used and notes on empty metric columns for one block's aggregate
    table; ``counts`` False leaves out the n and fail columns (the caller notes them instead)."""
    buckets = bucket_order(table["bucket"])
    metrics = [m for m in metric_columns(table.columns) if table[m].notna().any()]
    heads = [("n", ()), ("fail", ())] if counts else []
    columns = [Column("method")] + [Column(h, b, marks) for b in buckets
                                    for h, marks in [*heads, *((m, (direction(higher_is_better(m)),)) for m in metrics)]]
    rows, used = [], []
    for method, part in table.groupby("method", sort=False):
        cells = part.set_index("bucket")
        row = [method_cell(method, part)]
        used += row[0].marks
        for bucket in buckets:
            if bucket not in cells.index:
                row += [Cell("0", 0), Cell("0", 0)][:len(heads)] + [Cell("–", math.nan)] * len(metrics)
                continue
            cell = cells.loc[bucket]
            row += [Cell(str(int(cell["n"])), int(cell["n"])), Cell(str(int(cell["failures"])), int(cell["failures"]))][:len(heads)]
            for metric in metrics:
                mean = metric_cell(cell, method, bucket, metric, best, biased)
                used += list(mean.marks)
                row.append(mean)
        rows.append(tuple(row))
    return columns, rows, used, empty_notes(table, set_metrics)


def method_cell(method: str, part: pd.DataFrame) -> Cell:
    """The method's name with the marks of its flags in its block's aggregate rows ``part``."""
    flags = {**{flag: part[flag].any() for flag in RUN_FLAGS},
             "partial": part["partial"].any(), "incomplete": not part["complete"].all()}
    return Cell(method, marks=method_marks(flags))


def empty_notes(table: pd.DataFrame, set_metrics: pd.DataFrame | None = None) -> list[Note]:
    """A note per metric column of the aggregate ``table`` without any value, saying why (for a
    set-level metric, the note its computation left in ``set_metrics``, e.g. too few items)."""
    reasons = dict(UNSCORED)
    if set_metrics is not None and len(set_metrics):
        mine = set_metrics[set_metrics["run"].isin(set(table["run"])) & set_metrics["note"].fillna("").ne("")]
        reasons.update(mine.groupby("metric", sort=False)["note"].first())
    return [note(f"{m}: no value in these runs ({reasons.get(m, 'not computed')})")
            for m in metric_columns(table.columns) if not table[m].notna().any()] + set_state_notes(table, set_metrics)


def set_state_notes(table: pd.DataFrame, set_metrics: pd.DataFrame | None) -> list[Note]:
    """A note per set-level column computed with ``--set-state sums`` (its rows' notes say so): FID
    from exact sums, the others over a sample, so that such a value is never read as a features-mode one."""
    if set_metrics is None or not len(set_metrics):
        return []
    mine = set_metrics[set_metrics["run"].isin(set(table["run"])) & set_metrics["metric"].isin(set(table.columns))]
    notes = []
    for metric, rows in mine.groupby("metric", sort=False):
        said = rows["note"].fillna("")
        chosen = rows[_from_sums(said)]
        if chosen.empty:
            continue
        methods = list(dict.fromkeys(chosen["method"]))
        who = "" if set(methods) == set(rows["method"]) else f" for {', '.join(methods)}"
        if said.str.contains("exact sums of").any():
            notes.append(note(f"{metric}{who}: from exact sums of every scored item (--set-state sums, fixed point "
                              "2^-24)"))
        else:
            sizes = chosen["n"]
            span = f"{int(sizes.min())}" + (f"-{int(sizes.max())}" if sizes.max() != sizes.min() else "")
            notes.append(note(f"{metric}{who}: over a sample of {span} items per bucket (--set-state sums: the items "
                              "with the smallest blake2b of the item id)"))
    return notes


def _from_sums(notes: pd.Series) -> pd.Series:
    """Which set-level rows ``--set-state sums`` computed (their notes say so: docs/set-state.md)."""
    return notes.fillna("").str.contains("exact sums of|a sample of", regex=True)


def metric_cell(cell: pd.Series, method: str, bucket: str, metric: str, best: dict, biased: set) -> Cell:
    """One mean of an aggregate row (``cell``): ranked 1 when ``method`` is best of its block and
    bucket, marked ~ when a set-level value is biased by a small bucket; "–" where there is none."""
    small = (cell["run"], method, bucket, metric) in biased
    rank = 1 if method in best.get((cell["block"], bucket, metric), set()) else 0
    return Cell(_format(cell[metric], metric), float(cell[metric]), rank, (SMALL_SAMPLE,) if small else ())


def sample_notes(table: pd.DataFrame) -> list[Note]:
    """n and failures of a block's aggregate ``table`` as one line, for layouts without n and fail
    columns: per bucket the n of every method, each method that differs (fewer items, failures)
    named with its own n, so that no mean loses its n."""
    parts = []
    for bucket in bucket_order(table["bucket"]):
        here = table[table["bucket"] == bucket]
        counts = {m: (int(here.loc[here["method"] == m, "n"].sum()), int(here.loc[here["method"] == m, "failures"].sum()))
                  for m in dict.fromkeys(table["method"])}
        common = max(n for n, _ in counts.values())
        odd = [f"{m} {n}" + (f", {f} failed" if f else "") for m, (n, f) in counts.items() if n != common or f]
        parts.append(f"{bucket}: {common}" + (f" ({'; '.join(odd)})" if odd else ""))
    failed = int(table["failures"].sum())
    return [note("n, images scored per method: " + " · ".join(parts) + "; "
                 + (f"{failed} failed item(s), named above" if failed else "no failed item"))]


def _context(table: pd.DataFrame, combine: bool) -> tuple[str, list[Note]]:
    """What the block is (the title): dataset and run(s); then its protocol and deviations from the paper's."""
    first = table.iloc[0]
    lines = [note(f"Protocol: {p}") for p in dict.fromkeys(table["protocol"]) if p]
    lines += [note(Cell(marks=(OTHER_PROTOCOL,)), " Not the paper's protocol: " + d) for d in dict.fromkeys(table["deviations"]) if d]
    return f"{first['dataset']} · {'' if combine else 'run '}{first['run']}", lines


def set_best(table: pd.DataFrame, set_metrics: pd.DataFrame | None) -> dict[tuple[str, str, str], set[str]]:
    """Best set-level values per (block, bucket, metric), only where every method scored the same items."""
    best: dict[tuple[str, str, str], set[str]] = {}
    if set_metrics is None or set_metrics.empty:
        return best
    sums = set(zip(*(set_metrics.loc[_from_sums(set_metrics["note"]), c] for c in ("run", "method", "bucket", "metric"))))
    for metric in dict.fromkeys(set_metrics["metric"]):
        if metric not in table:
            continue
        for (block, bucket), part in table.groupby(["block", "bucket"], sort=False):
            values = part.dropna(subset=[metric])
            if len(values) < 2 or values["n"].nunique() != 1 or values["failures"].any():
                continue
            if len({(run, method, bucket, metric) in sums for run, method in zip(values["run"], values["method"])}) > 1:
                continue  # a sample against every item (--set-state sums against features): not ranked
            target = values[metric].max() if higher_is_better(metric) else values[metric].min()
            if (values[metric] == target).all():  # every method ties: nobody is best
                continue
            best[(block, bucket, metric)] = set(values.loc[values[metric] == target, "method"])
    return best


def block_facts(records: pd.DataFrame, combine: bool = False, set_metrics: pd.DataFrame | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict, set]:
    """What every per-block layout reads: the :func:`aggregate` table with each block's protocol,
    its data (no ``block`` column: what a CSV holds), the best methods and the biased set-level cells."""
    prepared = prepare(records, combine)
    table = aggregate(records, combine, set_metrics)
    data = table.drop(columns="block")
    extra = prepared.groupby("block")[["protocol"]].first()
    table = table.join(extra, on="block")
    best = {**best_methods(prepared), **set_best(table, set_metrics)}
    biased = set()
    if set_metrics is not None and len(set_metrics):
        flagged_rows = set_metrics[set_metrics["note"].fillna("").str.startswith("biased")]
        biased = set(zip(flagged_rows["run"], flagged_rows["method"], flagged_rows["bucket"], flagged_rows["metric"]))
    return table, data, best, biased


def results_tables(records: pd.DataFrame, combine: bool = False, set_metrics: pd.DataFrame | None = None,
                   compact: bool = False) -> list[Table]:
    """One table per block of ``records`` (methods × bucket n, fail, metric means; best values
    ranked 1); ``set_metrics`` adds the set-level columns (FID marked ~ when biased by a small
    bucket); ``compact`` (papers): no n and fail columns, they are a note under the table
    (:func:`sample_notes`). Each table's data is its block of :func:`aggregate`."""
    if records.empty:
        return []
    table, data, best, biased = block_facts(records, combine, set_metrics)
    tables = []
    for block, part in table.groupby("block", sort=False):
        columns, rows, used, empty = _block_rows(part, best, biased, counts=not compact, set_metrics=set_metrics)
        title, context = _context(part, combine)
        counted = sample_notes(part) if compact else []
        tables.append(Table(title, tuple(columns), (tuple(rows),),
                            tuple(counted) + tuple(mark_note(m) for m in dict.fromkeys(used)) + tuple(empty),
                            tuple(context), heading=True, data=data[table["block"] == block]))
    return tables


def render(records: pd.DataFrame, fmt: str = "markdown", combine: bool = False, set_metrics: pd.DataFrame | None = None) -> str:
    """Every block of ``records`` in the text format ``fmt`` (markdown, latex, csv, ...)."""
    tables = results_tables(records, combine, set_metrics)
    return render_tables(tables, fmt) if tables else "No records found."
