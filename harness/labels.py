"""What a method label may be: a name, never a path.

A label names a folder (``methods/<label>``) and a table row. ``..`` put a method's records
into the run folder itself (the run said "3 scored" and the report found nothing), a
separator reaches other folders, ``=`` is read as LABEL=METHOD, and a name longer than a
file name may be ended in a raw ``OSError``; all are refused here in one line.
"""
from __future__ import annotations

import unicodedata

from harness.errors import UsageError

#: Longest label in UTF-8 bytes: a file name holds 255, the folder may get a hash suffix.
MAX_LABEL_BYTES = 120


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name a method's results, or None."""
    if not label.strip():
        return "it is empty"
    if label.strip(".") == "":
        return "'.' and '..' are folders, not names"
    if any(sep in label for sep in ("/", "\\")):
        return "it holds a path separator"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in label):
        return "it holds a control character"
    if "=" in label:
        return "it holds '=' (read as LABEL=METHOD)"
    if len(label.encode()) > MAX_LABEL_BYTES:
        return f"it is longer than {MAX_LABEL_BYTES} bytes"
    return None


def check_label(label: str, where: str = "label") -> str:
    """``label`` when it is a valid name, else a UsageError saying why (``where``: the flag)."""
    problem = label_problem(label)
    if problem:
        shown = label if len(label) <= 40 else label[:40] + "…"
        raise UsageError(f"{where} {shown!r} is not a usable name: {problem}; use letters, digits, '-', '_' or '.'")
    return label
