"""CSV that is safe to open in a spreadsheet and reads back to exactly what was written.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel and LibreOffice (CSV injection). Such cells, and cells that already start with ``'``, get
one leading ``'``: spreadsheets show the text as is, and :func:`unescape` removes exactly that
one character again. Numbers are written as numbers and never escaped.
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import pandas as pd

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def escape(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def unescape(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def csv_text(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """Rows as CSV with the given columns; floats by ``repr`` (exact round trip), text escaped."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else escape(v)) for k, v in row.items()})
    return buffer.getvalue()


def read_csv(path, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """A file written by :func:`csv_text`; ``text_columns`` are read as strings (empty: "") and unescaped.

    Only empty cells are missing values: an id such as ``NA`` or ``nan`` stays text.
    """
    import pandas as pd  # with pyarrow behind it: only where a CSV is read back

    text_columns = list(text_columns)
    frame = pd.read_csv(path, dtype={c: str for c in text_columns}, keep_default_na=False, na_values=[""])
    for column in frame.columns:
        if column in text_columns:
            frame[column] = frame[column].fillna("")
        if column in text_columns or frame[column].dtype == object:
            frame[column] = frame[column].map(unescape)
    return frame
