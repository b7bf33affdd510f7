"""LaTeX (booktabs): best values bold, second best underlined, marks as superscripts, grouped
headers as spanning columns with rules; a heading table is a float with its title as caption,
any other is a bare tabular after its title as a comment. Needs ``\\usepackage{booktabs}``."""
from __future__ import annotations

import re
from itertools import groupby
from typing import Sequence

from harness.reports.latex import escape
from harness.reports.table import Cell, Column, Note, Table

_RANKS = {1: r"\textbf{{{}}}", 2: r"\underline{{{}}}"}
_SIGNED = re.compile(r"[+-]\d[\d.]*")  # typeset in math mode: a true minus sign
_RANGE = re.compile(r"(?<=[\d%])-(?=\d)")  # 0-20 in a header: an en dash


def _text(text: str) -> str:
    return f"${text}$" if _SIGNED.fullmatch(text) else escape(text).replace("–", "--")


def cell(cell: Cell) -> str:
    text = _text(cell.text)
    text = _RANKS[cell.rank].format(text) if cell.rank in _RANKS else text
    if cell.detail:
        text += r" {\scriptsize(" + ", ".join(_text(d) for d in cell.detail) + ")}"
    return text + "".join(mark.latex for mark in cell.marks)


def line(parts: Note) -> str:
    """A note: escaped text (no dash conversion), marks, ranked samples."""
    out = ""
    for part in parts:
        text = escape(part.text)
        out += (_RANKS[part.rank].format(text) if part.rank in _RANKS else text) + "".join(m.latex for m in part.marks)
    return out


def _header(column: Column) -> str:
    return _RANGE.sub("--", escape(column.text)) + "".join(mark.latex for mark in column.marks)


def _headers(table: Table) -> list[str]:
    """One header row, or with groups: the groups (spanning, with rules under them), then the
    columns; the stub's cells name the two rows (``axes``) or, without axes, its columns."""
    stub, body = table.columns[:table.stub], table.columns[table.stub:]
    if not table.grouped:
        return [" & ".join(_header(c) for c in table.columns) + r" \\"]
    groups, rules, start = [], [], table.stub + 1
    for group, members in groupby(body, key=lambda c: c.group):
        span = len(list(members))
        if group:
            groups.append(rf"\multicolumn{{{span}}}{{c}}{{{_RANGE.sub('--', escape(group))}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
        else:
            groups += [""] * span
        start += span
    blank = [""] * (len(stub) - 1)
    top, bottom = ([table.axes[0], *blank], [table.axes[1], *blank]) if table.axes else ([""] * len(stub), [_header(c) for c in stub])
    return [" & ".join([*top, *groups]) + r" \\", " ".join(rules), " & ".join([*bottom, *(_header(c) for c in body)]) + r" \\"]


def table(table: Table) -> str:
    width = len(table.columns)
    head = ([r"\begin{table}[t]", r"\centering", r"\caption{" + escape(table.title) + "}"] if table.heading
            else [f"% {table.title}"] if table.title else [])
    lines = [*head, rf"\begin{{tabular}}{{{'l' * table.stub}{'c' * (width - table.stub)}}}", r"\toprule", *_headers(table)]
    for section in table.sections:
        lines.append(r"\midrule")
        lines.extend(" & ".join(cell(c) for c in row) + r" \\" for row in section)
    lines.append(r"\bottomrule")
    lines.extend(rf"\multicolumn{{{width}}}{{l}}{{\footnotesize {line(n)}}} \\" for n in [*table.context, *table.notes])
    lines.append(r"\end{tabular}")
    if table.heading:
        lines.append(r"\end{table}")
    return "\n".join(lines)


def render(tables: Sequence[Table]) -> str:
    return "\n\n".join(table(t) for t in tables) + "\n"
