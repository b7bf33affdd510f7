"""The MISF paper's Tables 2-4 as data, and measured results laid out like them.

``published()`` loads the paper's numbers; ``paper_layout()`` lays measured results
(per-image records, see :mod:`harness.reports.stats`) out as the paper's table beside the published
values (a :class:`harness.reports.table.Table`, ``paper_table()`` renders it); ``reproduction_summary()`` and ``claims_check()`` say how close the measurements
come to the paper and to its relative claims.
"""
from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from harness.errors import UnknownName
from harness.reports.marks import METHOD_MARKS, OTHER_PROTOCOL, PUBLISHED_ONLY, RUN_FLAGS, direction, used
from harness.metrics.registry import column, higher_is_better
from harness.reports.stats import cell_confidence, cell_means
from harness.reports.table import Cell, Column, Note, Row, Table, frame_table, mark_note, note
from harness.reports.table import render as render_tables

PAPER_CSV = Path(__file__).with_name("paper_tables.csv")

#: Paper label → harness method name per table, in the paper's row order; None: not in the harness.
PAPER_TO_HARNESS: dict[str, dict[str, str | None]] = {
    "table2": {
        "PConv": "pconv",
        "StructFlow": "structureflow",
        "EdgeConnect": "edgeconnect",
        "RFRNet": "rfrnet",
        "JPGNet": "jpgnet",
        "CTSDG": "ctsdg",
        "MISF": "misf",
    },
    "table3": {
        "Img-Filter": "misf-img-filter",
        "Sem-Filter": "misf-sem-filter-f3",
        "MISF": "misf",
        "En-decoder-Filter": "misf-en-decoder-filter",
        "En-decoder": "misf-en-decoder",
    },
    "table4": {
        "Sem-Filter(F1)": "misf-sem-filter-f1",
        "Sem-Filter(F2)": "misf-sem-filter-f2",
        "Sem-Filter(F3)": "misf-sem-filter-f3",
    },
}
TABLES: tuple[str, ...] = tuple(PAPER_TO_HARNESS)
TABLE_TITLES: dict[str, str] = {
    "table2": "Table 2. Comparison results on Places2, CelebA, and Dunhuang datasets.",
    "table3": "Table 3. Ablation study results on Places2, CelebA, and Dunhuang datasets.",
    "table4": "Table 4. Sem-Filter with different deep features.",
}
DATASET_LABELS: dict[str, str] = {"places2": "Places2", "celeba": "CelebA", "dunhuang": "Dunhuang"}
RATIO_LABELS: dict[str, str] = {"0-20": "0%-20%", "20-40": "20%-40%", "40-60": "40%-60%", "default": "Default"}
#: The paper's metrics. Their printed decimals (display, ranking) and the largest
#: |measured − published| counted as reproduced come from the metric registry.
METRICS: tuple[str, ...] = ("PSNR", "SSIM", "L1", "LPIPS")
DECIMALS: dict[str, int] = {m: column(m).digits for m in METRICS}
DEFAULT_TOLERANCES: dict[str, float] = {m: column(m).meaningful for m in METRICS}


def published(path: Path | str = PAPER_CSV) -> pd.DataFrame:
    """The paper's numbers: columns table, dataset, mask_ratio, method (paper label), metric, value."""
    return pd.read_csv(path, dtype={"mask_ratio": str})


def table_columns(table: str) -> list[tuple[str, str]]:
    """The (dataset, mask_ratio) columns of a table, in the paper's order."""
    rows = published().query("table == @table")
    if rows.empty:
        raise UnknownName(f"Unknown table '{table}'; known: {', '.join(TABLES)}")
    return list(dict.fromkeys(zip(rows["dataset"], rows["mask_ratio"])))


def _measured(records: pd.DataFrame | None) -> pd.DataFrame:
    """Per (harness, dataset, mask_ratio, metric): images ``n``, ``failures`` and mean ``measured``."""
    columns = ["harness", "dataset", "mask_ratio", "metric", "n", "failures", "measured"]
    if records is None or records.empty:
        return pd.DataFrame(columns=columns)
    means = cell_means(records).rename(columns={"method": "harness", "bucket": "mask_ratio", "mean": "measured"})
    return means[columns].astype({"n": float})


def measured_runs(records: pd.DataFrame | None, datasets: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """dataset → (run, deviations from the paper's protocol or None when not recorded).

    A paper table compares one measurement per cell with the published value, so each dataset
    must come from one run: several runs of one dataset are an error naming them.
    """
    if records is None or records.empty:
        return {}
    found = {}
    for dataset in datasets:
        part = records[records["dataset"] == dataset]
        if part.empty:
            continue
        runs = list(dict.fromkeys(part["run"])) if "run" in part else [""]
        if len(runs) > 1:
            raise ValueError(f"records of {dataset} come from {len(runs)} runs ({', '.join(runs)}); a paper table "
                             "shows one measurement per cell: choose one run with --run NAME")
        deviations = part["deviations"].iloc[0] if "deviations" in part else None
        found[dataset] = (runs[0], None if deviations is None or pd.isna(deviations) else str(deviations))
    return found


def _flagged_methods(records: pd.DataFrame | None, flag: str) -> set[str]:
    """Harness methods with a record whose ``flag`` column is true."""
    if records is None or flag not in records.columns:
        return set()
    return set(records.loc[records[flag].astype(bool), "method"])


def _printed(values: pd.Series, metrics: pd.Series) -> pd.Series:
    """``values`` rounded to the printed precision of each row's metric."""
    return values.groupby(metrics).transform(lambda group: group.round(DECIMALS[group.name]))


def _ranks(frame: pd.DataFrame) -> pd.Series:
    """Dense rank (1 = best) of the shown values per metric and column, at printed precision.

    A measurement with failed items is a mean over other (often easier) items than the
    published numbers: it is shown but not ranked.
    """
    rounded = _printed(frame["shown"], frame["metric"]).where(~(frame["failures"].fillna(0) > 0))
    key = rounded.where(~frame["metric"].map(higher_is_better).astype(bool), -rounded)
    return key.groupby([frame["metric"], frame["dataset"], frame["mask_ratio"]]).rank(method="dense")


def table_frame(records: pd.DataFrame | None, table: str, extra_methods: Sequence[str] = ()) -> pd.DataFrame:
    """One row per cell of ``table`` (metric × method × column, in the paper's order).

    Columns: metric, method (paper label, or the harness name for ``extra_methods``),
    harness, dataset, mask_ratio, published, measured, n, failures, diff (measured − published),
    shown (measured, else published), rank (1 = best shown value of its column; methods with
    failed items in a column take no rank there), the run flags (reads_ground_truth, untrained,
    resized), other_protocol (measured under a protocol other than the paper's).
    """
    labels = {**PAPER_TO_HARNESS[table], **{name: name for name in extra_methods}}
    layout = pd.DataFrame(
        [
            (metric, label, harness, dataset, ratio)
            for metric in METRICS
            for label, harness in labels.items()
            for dataset, ratio in table_columns(table)
        ],
        columns=["metric", "method", "harness", "dataset", "mask_ratio"],
    )
    paper = published().query("table == @table").drop(columns="table").rename(columns={"value": "published"})
    frame = layout.merge(paper, on=["method", "dataset", "mask_ratio", "metric"], how="left").merge(
        _measured(records), on=["harness", "dataset", "mask_ratio", "metric"], how="left"
    )
    frame["diff"] = frame["measured"] - frame["published"]
    frame["shown"] = frame["measured"].fillna(frame["published"])
    frame["rank"] = _ranks(frame)
    shown = None if records is None else records[records["dataset"].isin(frame["dataset"].unique())]
    for flag in RUN_FLAGS:
        frame[flag] = frame["harness"].isin(_flagged_methods(shown, flag))
    runs = measured_runs(records, frame["dataset"].unique())
    frame["other_protocol"] = [bool(runs.get(d, ("", None))[1]) and not pd.isna(m) for d, m in zip(frame["dataset"], frame["measured"])]
    return frame


def _cell(cell: pd.Series) -> Cell:
    """A cell: the shown value (measured, else published with a mark) ranked in its column,
    beside a measurement the published value and the difference; the facts in ``data``."""
    if pd.isna(cell["shown"]):
        return Cell("–", math.nan)
    decimals = DECIMALS[cell["metric"]]
    rank = int(cell["rank"]) if cell["rank"] in (1, 2) else 0
    facts = {k: (None if pd.isna(cell[k]) else float(cell[k])) for k in ("published", "measured", "diff", "n", "failures")}
    text = f"{cell['shown']:.{decimals}f}"
    if pd.isna(cell["measured"]):
        return Cell(text, float(cell["shown"]), rank, (PUBLISHED_ONLY,), data=facts)
    marks = (OTHER_PROTOCOL,) if cell["other_protocol"] else ()
    detail = () if pd.isna(cell["published"]) else (f"{cell['published']:.{decimals}f}", f"{cell['diff']:+.{decimals}f}")
    return Cell(text, float(cell["shown"]), rank, marks, detail, facts)


def _method_cell(label: str, cells: pd.DataFrame) -> Cell:
    marks = tuple(METHOD_MARKS[flag] for flag in RUN_FLAGS if cells[flag].any())
    harness = cells["harness"].iloc[0]
    return Cell(label, marks=marks, data={"harness": harness if isinstance(harness, str) else ""})


def _sections(frame: pd.DataFrame) -> list[tuple[Row, ...]]:
    """Per metric, the rows (metric label or empty, method, cells...) of the table body; then
    one section of images scored (and failed) per measured method and column."""
    sections = []
    for metric, block in frame.groupby("metric", sort=False):
        rows = []
        for label, cells in block.groupby("method", sort=False):
            first = Cell(f"{metric} ", marks=(direction(higher_is_better(metric)),), data={"metric": metric}) if not rows else Cell()
            rows.append((first, _method_cell(label, cells), *(_cell(cell) for _, cell in cells.iterrows())))
        sections.append(tuple(rows))
    counts = []
    for label, cells in frame.groupby("method", sort=False):
        per_column = cells.groupby(["dataset", "mask_ratio"], sort=False)[["n", "failures"]].max()
        if per_column["n"].isna().all():
            continue
        texts = [Cell("–", math.nan) if pd.isna(n) else Cell(f"{int(n)} ({int(f)} failed)", int(n)) for n, f in per_column.to_numpy()]
        counts.append((Cell("n (failed)" if not counts else ""), _method_cell(label, cells), *texts))
    if counts:
        sections.append(tuple(counts))
    return sections


def _legend(frame: pd.DataFrame, runs: dict[str, tuple[str, str | None]]) -> list[Note]:
    lines = [note("Cells: measured (published, measured - published).")]
    for dataset, (run, deviations) in runs.items():
        where = f"Measured on {DATASET_LABELS.get(dataset, dataset)}: run {run or '(unnamed)'}, "
        if deviations is None:
            lines.append(note(where + "protocol not recorded."))
        elif deviations:
            lines.append(note(Cell(where, marks=(OTHER_PROTOCOL,)), f" not the paper's protocol: {deviations}."))
        else:
            lines.append(note(where + "the paper's protocol."))
    marks = [PUBLISHED_ONLY]
    marks += [METHOD_MARKS[flag] for flag in RUN_FLAGS if frame[flag].any()]
    marks += [OTHER_PROTOCOL] if frame["other_protocol"].any() else []
    lines += [mark_note(m) for m in used(marks)]
    lines.append(note(Cell("bold", rank=1), "/", Cell("underlined", rank=2), ": best/second best shown value"))
    return lines


def paper_layout(records: pd.DataFrame | None, table: str, extra_methods: Sequence[str] = ()) -> Table:
    """``table`` ("table2", "table3", "table4") in the paper's layout, measured beside published.

    Measured cells show the measured value with the published one and the difference; cells
    without a measurement the published value with a mark; the shown values of each column are
    ranked (best, second best). ``records=None``: the published table alone. ``extra_methods``
    (harness names) are appended as rows with measured values only. The legend names the run
    each dataset's measurements come from and whether it followed the paper's protocol; cells
    measured under another protocol are marked. Its data (CSV): one row per cell with measured,
    published, difference, n and failures.
    """
    frame = table_frame(records, table, extra_methods)
    columns = table_columns(table)
    runs = measured_runs(records, list(dict.fromkeys(d for d, _ in columns)))
    header = (Column("Metric"), Column("Method"), *(Column(RATIO_LABELS[r], DATASET_LABELS[d]) for d, r in columns))
    return Table(TABLE_TITLES[table], header, tuple(_sections(frame)), tuple(_legend(frame, runs)), stub=2,
                 axes=("Datasets", "Mask ratio"), data=frame)


def paper_table(
    records: pd.DataFrame | None, table: str, fmt: str = "markdown", extra_methods: Sequence[str] = ()
) -> str:
    """:func:`paper_layout` in the text format ``fmt`` (markdown, latex, csv, ...)."""
    return render_tables(paper_layout(records, table, extra_methods), fmt)


def reproduction_summary(
    records: pd.DataFrame,
    tolerances: Mapping[str, float] = DEFAULT_TOLERANCES,
    tables: Sequence[str] = TABLES,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every cell with both a measurement and a published value, across ``tables``.

    Adds the bootstrap 95 % interval of the measured mean (``ci_low``, ``ci_high``),
    ``tolerance``, ``within_tolerance`` (|diff| at printed precision ≤ tolerance) and
    ``published_in_ci``.
    """
    frame = pd.concat([table_frame(records, table).assign(table=table) for table in tables], ignore_index=True)
    cells = frame.dropna(subset=["measured", "published"])
    used = records[records["method"].isin(cells["harness"]) & records["dataset"].isin(cells["dataset"])]
    intervals = cell_confidence(used, n_resamples=n_resamples, seed=seed).rename(
        columns={"method": "harness", "bucket": "mask_ratio"}
    )
    cells = cells.merge(
        intervals[["harness", "dataset", "mask_ratio", "metric", "ci_low", "ci_high"]],
        on=["harness", "dataset", "mask_ratio", "metric"],
        how="left",
    )
    cells["tolerance"] = cells["metric"].map(tolerances)
    cells["within_tolerance"] = _printed(cells["diff"].abs(), cells["metric"]) <= cells["tolerance"]
    cells["published_in_ci"] = cells["published"].between(cells["ci_low"], cells["ci_high"])
    columns = ["table", "metric", "method", "harness", "dataset", "mask_ratio", "n", "failures", "measured", "ci_low",
               "ci_high", "published", "diff", "tolerance", "within_tolerance", "published_in_ci"]
    return cells[columns].astype({"n": int, "failures": int})


@dataclass(frozen=True)
class Claim:
    """A relative improvement the paper states, in percent, with its source sentence."""

    sentence: str
    stated: float
    metric: str
    dataset: str
    mask_ratio: str
    method: str = "MISF"
    baseline: str = "RFRNet"
    table: str = "table2"


_RFRNET_GAPS = (
    "Moreover, the relative gaps become larger, i.e., 7.3% and 7.9%, under 20%-40% and 40%-60% "
    "mask ratios, respectively."
)
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "Compared to RFRNet, we achieve 7.01% relative higher PNSR under the 0%-20% mask ratio on the "
        "Places2 dataset.",
        7.01, "PSNR", "places2", "0-20",
    ),
    Claim(_RFRNET_GAPS, 7.3, "PSNR", "places2", "20-40"),
    Claim(_RFRNET_GAPS, 7.9, "PSNR", "places2", "40-60"),
    Claim(
        "Our method gets 47.12% relative lower LPIPS than JPGNet under the 0%-20% mask ratio on the "
        "Place2 dataset.",
        47.12, "LPIPS", "places2", "0-20", baseline="JPGNet",
    ),
)


def relative_gain(value: float, baseline: float, metric: str) -> float:
    """Percent by which ``value`` beats ``baseline`` in the metric's better direction."""
    sign = 1.0 if higher_is_better(metric) else -1.0
    return sign * (value - baseline) / baseline * 100.0


def claims_check(records: pd.DataFrame | None = None, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    """Each claim recomputed from the published numbers and from the measured ones.

    ``from_measured`` is NaN unless both methods of the claim were measured.
    """
    frames = {
        table: table_frame(records, table).set_index(["method", "metric", "dataset", "mask_ratio"])
        for table in {claim.table for claim in claims}
    }
    rows = []
    for claim in claims:
        cells = frames[claim.table]
        method, baseline = (
            cells.loc[(label, claim.metric, claim.dataset, claim.mask_ratio)]
            for label in (claim.method, claim.baseline)
        )
        rows.append(
            (*astuple(claim),
             relative_gain(method["published"], baseline["published"], claim.metric),
             relative_gain(method["measured"], baseline["measured"], claim.metric))
        )
    return pd.DataFrame(rows, columns=[f.name for f in fields(Claim)] + ["from_published", "from_measured"])


def reproduction_tables(records: pd.DataFrame, tolerances: Mapping[str, float] = DEFAULT_TOLERANCES) -> list[Table]:
    """The reproduction summary (its data: every cell) and the claims check (commentary, no data)."""
    summary = reproduction_summary(records, tolerances)
    claims = claims_check(records)
    claims[["from_published", "from_measured"]] = claims[["from_published", "from_measured"]].round(2)
    stated = ", ".join(f"{m} {t:g}" for m, t in tolerances.items())
    header = (
        f"{int(summary['within_tolerance'].sum())} of {len(summary)} measured cells within tolerance of the "
        f"published value ({stated}); the published value lies inside the bootstrap 95% interval of the "
        f"measured mean in {int(summary['published_in_ci'].sum())}."
    )
    cells = frame_table(summary, ["measured", "ci_low", "ci_high", "published", "diff"], "metric", header)
    relative = replace(frame_table(claims.drop(columns=["table"]).astype(str), title="Relative claims (percent):"), data=None)
    return [cells, relative]


def render_reproduction(
    records: pd.DataFrame, tolerances: Mapping[str, float] = DEFAULT_TOLERANCES, fmt: str = "markdown"
) -> str:
    """:func:`reproduction_tables` in the text format ``fmt`` (CSV: the cells only)."""
    return render_tables(reproduction_tables(records, tolerances), fmt)
