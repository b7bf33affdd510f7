"""CSV for other tools: the data behind a view's tables at full precision, in one file."""
from __future__ import annotations

from typing import Sequence

from harness.reports.table import Table


def _cells(table: Table):
    import pandas as pd

    values = [[c.text if c.value is None else c.value for c in row] for row in table.rows]
    return pd.DataFrame(values, columns=[f"{c.group} {c.text}".strip() for c in table.columns])


def render(tables: Sequence[Table]) -> str:
    """The tables' ``data`` concatenated (tables without data are commentary and left out);
    a view whose tables carry no data gives their cells, a number where a cell has one."""
    import pandas as pd

    frames = [t.data for t in tables if t.data is not None] or [_cells(t) for t in tables]
    if not frames:
        return ""
    return (frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)).to_csv(index=False)
