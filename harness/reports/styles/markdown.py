"""Markdown (GitHub tables): best values bold, second best underlined, marks as characters."""
from __future__ import annotations

from typing import Sequence

from harness.reports.table import Cell, Column, Note, Table

_RANKS = {1: "**{}**", 2: "<u>{}</u>"}


def cell(cell: Cell) -> str:
    text = _RANKS[cell.rank].format(cell.text) if cell.rank in _RANKS else cell.text
    if cell.detail:
        text += f" ({', '.join(cell.detail)})"
    return text + "".join(mark.text for mark in cell.marks)


def line(parts: Note) -> str:
    return "".join(cell(part) for part in parts)


def header(column: Column) -> str:
    text = f"{column.group} {column.text}" if column.group else column.text
    return text + "".join(mark.text for mark in column.marks)


def table(table: Table) -> str:
    parts = [("### " if table.heading else "") + table.title] if table.title else []
    if table.context:
        parts.append("\n".join(line(n) for n in table.context))
    from tabulate import tabulate

    rows = [[cell(c) for c in row] for row in table.rows]
    parts.append(tabulate(rows, [header(c) for c in table.columns], tablefmt="github", disable_numparse=True))
    if table.notes:
        parts.append("\n".join(line(n) for n in table.notes))
    return "\n\n".join(parts)


def render(tables: Sequence[Table]) -> str:
    return "\n\n".join(table(t) for t in tables) + "\n"
