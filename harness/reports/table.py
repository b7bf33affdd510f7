"""One neutral table model that every report view builds and every output style renders.

A builder (the per-run results, the paper's layout, reproduction, confidence, paired, profiles,
check's comparison) says *what* a table holds: columns, sections of rows of cells, a cell's
value and text, its rank (1 best, 2 second best), its marks (†, ‡, *, §, °, ◊, ~, arrows),
the notes under it. A style (one module per format in :mod:`harness.reports.styles`, registered in
:data:`harness.registry.REPORT_FORMATS`) says *how* a format writes any table: markdown, LaTeX, CSV; the HTML report's
view model reads the same tables. Nothing here knows a format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from harness.reports.marks import Mark

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Cell:
    """One cell: ``text`` as printed (unescaped); ``value``, the number it shows at full
    precision (NaN: a missing number, None: not a number); ``rank`` among its column's values
    (1 best, 2 second best, 0 unranked); ``detail``, texts shown smaller after it in brackets
    (the paper's published value and difference); its ``marks``; and for richer views the
    facts behind it (``data``)."""

    text: str = ""
    value: float | None = None
    rank: int = 0
    marks: tuple[Mark, ...] = ()
    detail: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)


Row = tuple[Cell, ...]
#: A line of text under or above a table: a run of cells (plain text, marks, ranked samples).
Note = tuple[Cell, ...]


def note(*parts: str | Cell) -> Note:
    """A note from plain strings and cells."""
    return tuple(part if isinstance(part, Cell) else Cell(part) for part in parts)


def mark_note(mark: Mark) -> Note:
    """The legend line of ``mark``."""
    return (Cell(marks=(mark,)), Cell(" " + mark.meaning))


@dataclass(frozen=True)
class Column:
    """A column header; adjacent columns with the same ``group`` share a spanning header."""

    text: str
    group: str = ""
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True)
class Table:
    """A titled table: ``sections`` of rows (a rule between sections), the first ``stub``
    columns label the rows; ``context`` says what was measured (above the table), ``notes``
    are the legend (below). ``heading``: the title heads one table of a series (a section
    heading, a captioned float). ``axes``: labels of the group and column header rows, shown in
    the stub where a style draws grouped headers. ``data``: the rows a CSV holds at full
    precision (None: the table is commentary, left out of a CSV beside tables with data)."""

    title: str
    columns: tuple[Column, ...]
    sections: tuple[tuple[Row, ...], ...]
    notes: tuple[Note, ...] = ()
    context: tuple[Note, ...] = ()
    heading: bool = False
    stub: int = 1
    axes: tuple[str, str] | tuple[()] = ()
    data: "pd.DataFrame | None" = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        width = len(self.columns)
        bad = [len(row) for section in self.sections for row in section if len(row) != width]
        if bad:
            raise ValueError(f"table '{self.title}': {width} columns but rows of {sorted(set(bad))} cells")

    @property
    def rows(self) -> list[Row]:
        return [row for section in self.sections for row in section]

    @property
    def grouped(self) -> bool:
        return any(column.group for column in self.columns)


# Styles --------------------------------------------------------------------------------------------

def render(tables: Table | Iterable[Table], fmt: str = "markdown") -> str:
    """``tables`` (one or a view's series) as text in the format ``fmt`` (REPORT_FORMATS)."""
    from harness.registry import REPORT_FORMATS

    return REPORT_FORMATS.get(fmt)([tables] if isinstance(tables, Table) else list(tables))


# A builder for any DataFrame -------------------------------------------------------------------------

def frame_table(
    frame: "pd.DataFrame",
    metric_columns: Iterable[str] = (),
    metric_of_row: str | None = None,
    title: str = "",
    signed: Iterable[str] = ("diff", "mean_diff"),
) -> Table:
    """``frame`` as a table, one cell per value; ``metric_columns`` print at their metric's
    precision (``metric_of_row``: each row's metric names it; otherwise the column's name),
    ``signed`` ones with their sign. Its CSV is ``frame`` itself."""
    import pandas as pd

    from harness.metrics.registry import digits

    numbers, signed = set(metric_columns), set(signed)
    columns = [str(c) for c in frame.columns]

    def cell(name: str, value: Any, metric: str | None) -> Cell:
        if name in numbers:
            if pd.isna(value):
                return Cell("", math.nan)
            places = digits(metric if metric_of_row else name)
            return Cell(f"{value:{'+' if name in signed else ''}.{places}f}", float(value))
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        return Cell("" if value is None else str(value), number)

    metrics = frame[metric_of_row] if metric_of_row else [None] * len(frame)
    # Numbers read back from CSV files can be text ("nan"); anything that is not a number is an error.
    shown = frame.assign(**{name: frame[name].astype(float) for name in numbers if name in frame})
    rows = tuple(tuple(cell(name, value, metric) for name, value in zip(columns, values))
                 for values, metric in zip(shown.itertuples(index=False), metrics))
    labels = [not pd.api.types.is_numeric_dtype(frame[c]) and c not in numbers for c in frame.columns]
    stub = labels.index(False) if False in labels else len(labels)
    return Table(title, tuple(Column(c) for c in columns), (rows,), stub=max(stub, 1), data=frame)
