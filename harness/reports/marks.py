"""The marks every table uses for the same facts, with their legend, in text and LaTeX."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Mark:
    text: str
    latex: str
    meaning: str

    def get(self, fmt: str) -> str:
        return self.latex if fmt == "latex" else self.text


READS_GROUND_TRUTH = Mark("†", r"$^\dagger$", "the method's official preprocessing reads the uncorrupted image (e.g. CTSDG's edges)")
UNTRAINED = Mark("‡", r"$^\ddagger$", "random or untrained weights: not a result of the method")
RESIZED = Mark("≈", r"$^\approx$", "run at the model's native size and resized to the protocol's size and back "
               "(a fixed-size model under another size's protocol)")
PARTIAL = Mark("*", r"$^\ast$", "scored fewer items than another method of the table (see n and fail); best values are "
               "marked by the means over the items every method scored")
INCOMPLETE = Mark("§", r"$^\S$", "incomplete: the run was interrupted or is still running")
PUBLISHED_ONLY = Mark("°", r"$^\circ$", "published value alone (not measured here)")
SMALL_SAMPLE = Mark("~", r"$^\sim$", "FID over fewer than 2,048 items: biased upwards, not comparable across sizes (prefer KID)")
OTHER_PROTOCOL = Mark("◊", r"$^\diamond$", "measured under a protocol other than the paper's (see above the table)")

#: Facts of a method's run recorded in its method.json, carried as record columns into every table.
RUN_FLAGS = ("reads_ground_truth", "untrained", "resized")
#: Method marks in the order they are appended to a name, keyed by the records' flag column.
METHOD_MARKS: dict[str, Mark] = {
    "reads_ground_truth": READS_GROUND_TRUTH,
    "untrained": UNTRAINED,
    "resized": RESIZED,
    "partial": PARTIAL,
    "incomplete": INCOMPLETE,
}


def flagged(name: str, flags: dict[str, bool], fmt: str, escape=str) -> str:
    """``name`` with the marks of its true flags."""
    return escape(name) + "".join(mark.get(fmt) for key, mark in METHOD_MARKS.items() if flags.get(key))


def legend(marks: Iterable[Mark], fmt: str) -> list[str]:
    """One line per mark used, in a stable order."""
    used = list(dict.fromkeys(marks))
    return [f"{mark.get(fmt)} {mark.meaning}" for mark in used]
