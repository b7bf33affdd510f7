"""Brace patterns for lists of shards: ``shards-{0000..0999}.tar``, ``{train,val}-{0..9}.tar``.

Our own small expander (WebDataset's shard notation, no dependency): a numeric range
``{A..B}`` (ascending, zero-padded to the wider bound when a bound is written with a leading
zero) or a comma list ``{x,y,z}``; several groups multiply in order, left to right. Nested or
unbalanced braces, empty groups and reversed ranges are mistakes (:class:`BraceError`), never
guessed at.
"""
from __future__ import annotations

import itertools
import re

_RANGE = re.compile(r"(-?\d+)\.\.(-?\d+)")


class BraceError(ValueError):
    """A pattern that cannot be expanded; the message quotes it and says why."""


def expand(pattern: str) -> list[str]:
    """Every name the pattern stands for, in order (a pattern without braces is itself)."""
    parts: list[list[str]] = []
    literal, position = [], 0
    while position < len(pattern):
        char = pattern[position]
        if char == "}":
            raise BraceError(f"{pattern!r}: '}}' at character {position + 1} closes no '{{'")
        if char != "{":
            literal.append(char)
            position += 1
            continue
        end = pattern.find("}", position)
        inner = pattern[position + 1 : end] if end >= 0 else ""
        if end < 0:
            raise BraceError(f"{pattern!r}: '{{' at character {position + 1} is never closed")
        if "{" in inner:
            raise BraceError(f"{pattern!r}: nested braces are not supported")
        parts.extend([["".join(literal)], _group(inner, pattern)])
        literal, position = [], end + 1
    parts.append(["".join(literal)])
    return ["".join(names) for names in itertools.product(*parts)]


def _group(inner: str, pattern: str) -> list[str]:
    """The names of one ``{...}`` group."""
    match = _RANGE.fullmatch(inner)
    if match:
        first, last = match.groups()
        start, stop = int(first), int(last)
        if stop < start:
            raise BraceError(f"{pattern!r}: range {{{inner}}} runs backwards")
        padded = any(len(bound.lstrip("-")) > 1 and bound.lstrip("-").startswith("0") for bound in (first, last))
        width = max(len(first), len(last)) if padded else 0
        return [str(n).zfill(width) for n in range(start, stop + 1)]
    if ".." in inner:
        raise BraceError(f"{pattern!r}: {{{inner}}} is not a range of whole numbers like {{0000..0099}}")
    names = inner.split(",")
    if len(names) < 2 or not all(names):
        raise BraceError(f"{pattern!r}: {{{inner}}} needs a range {{A..B}} or at least two non-empty names {{a,b}}")
    return names
