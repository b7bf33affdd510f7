"""The MISF paper's Tables 2-4 as data, and measured results laid out like them.

``published()`` loads the paper's numbers; ``paper_table()`` renders measured results
(per-image records, see :mod:`harness.reports.stats`) in the paper's layout beside the published
values; ``reproduction_summary()`` and ``claims_check()`` say how close the measurements
come to the paper and to its relative claims.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from itertools import groupby
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd
from tabulate import tabulate

from harness.errors import UnknownName
from harness.reports import latex
from harness.reports import render
from harness.reports.marks import METHOD_MARKS, OTHER_PROTOCOL, PUBLISHED_ONLY, RUN_FLAGS, legend
from harness.metrics.registry import column, higher_is_better
from harness.reports.stats import cell_confidence, cell_means

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


@dataclass(frozen=True)
class _Style:
    """How one output format writes text, markers and cells."""

    fmt: str
    tablefmt: str  # tabulate's name for the format
    escape: Callable[[str], str]
    empty: str
    pair: str  # a measured cell, from {measured}, {published}, {diff}
    arrows: tuple[str, str]  # (higher better, lower better)
    rank_marks: tuple[str, ...] = ()  # templates for the best, second best... shown value


_STYLES: dict[str, _Style] = {
    "markdown": _Style("markdown", "github", str, "–", "{measured} ({published}, {diff})", ("↑", "↓")),
    "latex": _Style(
        fmt="latex",
        tablefmt="latex_booktabs",
        escape=latex.escape,
        empty="--",
        pair=r"{measured} {{\scriptsize({published}, ${diff}$)}}",
        arrows=(r"$\uparrow$", r"$\downarrow$"),
        rank_marks=(r"\textbf{{{}}}", r"\underline{{{}}}"),
    ),
}
FORMATS: tuple[str, ...] = tuple(_STYLES)


def _style(fmt: str) -> _Style:
    if fmt not in _STYLES:
        raise ValueError(f"Unknown format '{fmt}'; choose from {', '.join(FORMATS)}")
    return _STYLES[fmt]


def _cell(cell: pd.Series, style: _Style) -> str:
    """A cell's text: measured beside published and difference, published alone (mark), or empty."""
    decimals = DECIMALS[cell["metric"]]
    if pd.isna(cell["shown"]):
        return style.empty
    shown = f"{cell['shown']:.{decimals}f}"
    if cell["rank"] <= len(style.rank_marks):
        shown = style.rank_marks[int(cell["rank"]) - 1].format(shown)
    if pd.isna(cell["measured"]):
        return shown + PUBLISHED_ONLY.get(style.fmt)
    protocol = OTHER_PROTOCOL.get(style.fmt) if cell["other_protocol"] else ""
    if pd.isna(cell["published"]):
        return shown + protocol
    return style.pair.format(
        measured=shown, published=f"{cell['published']:.{decimals}f}", diff=f"{cell['diff']:+.{decimals}f}"
    ) + protocol


def _method_label(label: str, cells: pd.DataFrame, style: _Style) -> str:
    marks = [METHOD_MARKS[flag] for flag in RUN_FLAGS if cells[flag].any()]
    return style.escape(label) + "".join(m.get(style.fmt) for m in marks)


def _blocks(frame: pd.DataFrame, style: _Style) -> list[list[list[str]]]:
    """Per metric, the rows [metric label or '', method label, cells...] of the table body; then
    one block of images scored (and failed) per measured method and column."""
    blocks = []
    for metric, block in frame.groupby("metric", sort=False):
        arrow = style.arrows[0] if higher_is_better(metric) else style.arrows[1]
        rows = []
        for label, cells in block.groupby("method", sort=False):
            first = f"{metric} {arrow}" if not rows else ""
            rows.append([first, _method_label(label, cells, style), *(_cell(cell, style) for _, cell in cells.iterrows())])
        blocks.append(rows)
    counts = []
    for label, cells in frame.groupby("method", sort=False):
        per_column = cells.groupby(["dataset", "mask_ratio"], sort=False)[["n", "failures"]].max()
        if per_column["n"].isna().all():
            continue
        texts = [style.empty if pd.isna(n) else f"{int(n)} ({int(f)} failed)" for n, f in per_column.to_numpy()]
        counts.append(["n (failed)" if not counts else "", _method_label(label, cells, style), *texts])
    if counts:
        blocks.append(counts)
    return blocks


def _legend(frame: pd.DataFrame, style: _Style, runs: dict[str, tuple[str, str | None]]) -> list[str]:
    lines = [style.escape("Cells: measured (published, measured - published).")]
    for dataset, (run, deviations) in runs.items():
        where = f"Measured on {DATASET_LABELS.get(dataset, dataset)}: run {run or '(unnamed)'}, "
        if deviations is None:
            lines.append(style.escape(where + "protocol not recorded."))
        elif deviations:
            lines.append(style.escape(where) + OTHER_PROTOCOL.get(style.fmt) + style.escape(f" not the paper's protocol: {deviations}."))
        else:
            lines.append(style.escape(where + "the paper's protocol."))
    marks = [PUBLISHED_ONLY]
    marks += [METHOD_MARKS[flag] for flag in RUN_FLAGS if frame[flag].any()]
    marks += [OTHER_PROTOCOL] if frame["other_protocol"].any() else []
    lines += legend(marks, style.fmt)
    if style.rank_marks:
        best, second = (mark.format(word) for mark, word in zip(style.rank_marks, ("bold", "underlined")))
        lines.append(f"{best}/{second}: best/second best shown value")
    return lines


def _markdown(frame: pd.DataFrame, table: str, style: _Style, runs) -> str:
    headers = ["Metric", "Method", *(f"{DATASET_LABELS[d]} {RATIO_LABELS[r]}" for d, r in table_columns(table))]
    rows = [row for block in _blocks(frame, style) for row in block]
    body = tabulate(rows, headers=headers, tablefmt=style.tablefmt, disable_numparse=True)
    return "\n".join([TABLE_TITLES[table], "", body, "", *_legend(frame, style, runs)]) + "\n"


def _latex(frame: pd.DataFrame, table: str, style: _Style, runs) -> str:
    columns = table_columns(table)
    width = 2 + len(columns)
    groups, rules, start = [], [], 3
    for dataset, members in groupby(columns, key=lambda c: c[0]):
        span = len(list(members))
        groups.append(rf"\multicolumn{{{span}}}{{c}}{{{DATASET_LABELS[dataset]}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
        start += span
    ratios = [style.escape(RATIO_LABELS[r]).replace("-", "--") for _, r in columns]
    lines = [
        f"% {TABLE_TITLES[table]}",
        rf"\begin{{tabular}}{{ll{'c' * len(columns)}}}",
        r"\toprule",
        " & ".join(["Datasets", "", *groups]) + r" \\",
        " ".join(rules),
        " & ".join(["Mask ratio", "", *ratios]) + r" \\",
    ]
    for block in _blocks(frame, style):
        lines.append(r"\midrule")
        lines.extend(" & ".join(row) + r" \\" for row in block)
    lines.append(r"\bottomrule")
    lines.extend(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {mark}}} \\" for mark in _legend(frame, style, runs))
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


_RENDERERS: dict[str, Callable[..., str]] = {"markdown": _markdown, "latex": _latex}


def paper_table(
    records: pd.DataFrame | None, table: str, fmt: str = "markdown", extra_methods: Sequence[str] = ()
) -> str:
    """``table`` ("table2", "table3", "table4") in the paper's layout, as "markdown" or "latex"
    (or "csv": one row per cell with measured, published, difference, n and failures).

    Measured cells read "measured (published, difference)"; cells without a measurement show
    the published value with a mark. ``records=None`` renders the published table alone.
    ``extra_methods`` (harness names) are appended as rows with measured values only. The
    legend names the run each dataset's measurements come from and whether it followed the
    paper's protocol; cells measured under another protocol are marked.
    """
    frame = table_frame(records, table, extra_methods)
    if fmt == "csv":
        return render.table(frame, "csv")
    style = _style(fmt)
    runs = measured_runs(records, list(dict.fromkeys(d for d, _ in table_columns(table))))
    return _RENDERERS[fmt](frame, table, style, runs)


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


def render_reproduction(
    records: pd.DataFrame, tolerances: Mapping[str, float] = DEFAULT_TOLERANCES, fmt: str = "markdown"
) -> str:
    """The reproduction summary and the claims check as markdown, LaTeX or CSV (the cells only)."""
    summary = reproduction_summary(records, tolerances)
    if fmt == "csv":
        return render.table(summary, "csv")
    claims = claims_check(records)
    claims[["from_published", "from_measured"]] = claims[["from_published", "from_measured"]].round(2)
    stated = ", ".join(f"{m} {t:g}" for m, t in tolerances.items())
    header = (
        f"{int(summary['within_tolerance'].sum())} of {len(summary)} measured cells within tolerance of the "
        f"published value ({stated}); the published value lies inside the bootstrap 95% interval of the "
        f"measured mean in {int(summary['published_in_ci'].sum())}."
    )
    cells = render.table(summary, fmt, ["measured", "ci_low", "ci_high", "published", "diff"], "metric", header)
    return cells + "\n" + render.table(claims.drop(columns=["table"]).astype(str), fmt, title="Relative claims (percent):")
