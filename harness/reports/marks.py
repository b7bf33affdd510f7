"""The marks every table uses for the same facts, with their legend; each output style
(:mod:`harness.reports.styles`) draws a mark in its own form: ``text`` (markdown, plots), ``latex``, ``html``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Mark:
    text: str
    latex: str
    meaning: str
    html_form: str | None = None  # None: the text form, which HTML shows as it is

    @property
    def html(self) -> str:
        return self.text if self.html_form is None else self.html_form


READS_GROUND_TRUTH = Mark("†", r"$^\dagger$", "the method's official preprocessing reads the uncorrupted image (e.g. CTSDG's edges)")
UNTRAINED = Mark("‡", r"$^\ddagger$", "random or untrained weights: not a result of the method")
RESIZED = Mark("≈", r"$^\approx$", "run at the model's native size and resized to the protocol's size and back "
               "(a fixed-size model under another size's protocol), or supplied predictions resized to it")
SUPPLIED = Mark("⊳", r"$^\triangleright$", "predictions supplied as files, not produced by the harness (method.json "
                "names the folder; `harness run --methods LABEL=predictions:DIR`)")
LOSSY = Mark("ʲ", r"$^{j}$", "some supplied predictions were read from lossy files (JPEG): the numbers include "
             "the compression")
PARTIAL = Mark("*", r"$^\ast$", "scored fewer items than another method of the table (see n and fail); best values are "
               "marked by the means over the items every method scored")
INCOMPLETE = Mark("§", r"$^\S$", "incomplete: the run was interrupted or is still running")
PUBLISHED_ONLY = Mark("°", r"$^\circ$", "published value alone (not measured here)")
SMALL_SAMPLE = Mark("~", r"$^\sim$", "set-level metric under its reliable size (FID 2,048 items, KID 1,000, P-/U-IDS "
                    "the feature dimension per class): biased or unstable, not comparable across sizes")
OTHER_PROTOCOL = Mark("◊", r"$^\diamond$", "measured under a protocol other than the paper's (see above the table)")
TESTS_DISAGREE = Mark("!", r"$^{!}$", "the Wilcoxon signed-rank test at p < 0.05 disagrees with the bootstrap interval, "
                      "which decides: take the difference as uncertain (a few large differences move the mean, not the "
                      "ranks; with few pairs the percentile interval is too narrow)")
#: A metric's better direction, drawn after its name.
HIGHER = Mark("↑", r"$\uparrow$", "higher is better")
LOWER = Mark("↓", r"$\downarrow$", "lower is better")

#: Facts of a method's run recorded in its method.json, carried as record columns into every table.
RUN_FLAGS = ("reads_ground_truth", "untrained", "resized", "supplied", "lossy")
#: Method marks in the order they are appended to a name, keyed by the records' flag column.
METHOD_MARKS: dict[str, Mark] = {
    "reads_ground_truth": READS_GROUND_TRUTH,
    "untrained": UNTRAINED,
    "resized": RESIZED,
    "supplied": SUPPLIED,
    "lossy": LOSSY,
    "partial": PARTIAL,
    "incomplete": INCOMPLETE,
}


def direction(higher_is_better: bool) -> Mark:
    return HIGHER if higher_is_better else LOWER


def method_marks(flags: dict[str, bool]) -> tuple[Mark, ...]:
    """The marks of a method's true flags, in their order."""
    return tuple(mark for key, mark in METHOD_MARKS.items() if flags.get(key))


def flagged(name: str, flags: dict[str, bool]) -> str:
    """``name`` with the text form of the marks of its true flags (plots, the HTML report)."""
    return name + "".join(mark.text for mark in method_marks(flags))


def used(marks: Iterable[Mark]) -> list[Mark]:
    """Each mark once, in the order first used (one legend line each)."""
    return list(dict.fromkeys(marks))
