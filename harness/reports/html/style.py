"""The HTML report's style: its view model reads tables through these; texts are plain strings
(the page's template escapes them), marks in their ``html`` form, best values become the class
``best`` of their cell. Not a text format (:mod:`harness.reports.styles`): ``--format html``
writes the report folder."""
from __future__ import annotations

from itertools import groupby
from typing import Any

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


def table_view(table: Table) -> dict[str, Any]:
    """Any table as the page's generic table (templates/table.html.j2): the spanning groups, the
    column headers, the cells (``best``: rank 1; ``empty``: no number, shown as it is), the notes
    under it and the context above it."""
    body = table.columns[table.stub:]
    groups = [{"text": group, "span": len(list(members))} for group, members in groupby(body, key=lambda c: c.group)]
    rows = [[{"text": text(cell), "best": cell.rank == 1, "empty": cell.value is not None and cell.value != cell.value}
             for cell in row] for row in table.rows]
    return {"title": table.title, "stub": [header(c) for c in table.columns[:table.stub]],
            "groups": groups if table.grouped else [], "headers": [c.text + "".join(m.html for m in c.marks) for c in body],
            "rows": rows, "notes": notes(table), "context": [line(n) for n in table.context]}
