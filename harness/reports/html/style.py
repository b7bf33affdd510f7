"""The HTML report's style: its view model reads tables through these; texts are plain strings
(the page's template escapes them), marks in their ``html`` form, best values become the class
``best`` of their cell. Not a text format (:mod:`harness.reports.styles`): ``--format html``
writes the report folder."""
from __future__ import annotations

from harness.reports.table import Cell, Column, Note, Table


def text(cell: Cell) -> str:
    """The cell's text, its detail in brackets, its marks."""
    shown = cell.text + (f" ({', '.join(cell.detail)})" if cell.detail else "")
    return shown + "".join(mark.html for mark in cell.marks)


def header(column: Column) -> str:
    return (f"{column.group} {column.text}" if column.group else column.text) + "".join(m.html for m in column.marks)


def line(parts: Note) -> str:
    return "".join(text(part) for part in parts)


def body_headers(table: Table) -> list[str]:
    """The headers of the columns right of the stub."""
    return [header(c) for c in table.columns[table.stub:]]


def notes(table: Table) -> list[str]:
    return [line(n) for n in table.notes]
