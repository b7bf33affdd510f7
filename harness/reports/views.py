"""Report views by name: what ``harness report --view NAME`` shows, as tables any style renders.

A view builds :class:`harness.reports.table.Table` objects from the selected records and set-level
results; it names the options it reads, so that an option it would ignore is an error rather
than silently dropped. Every view, the core's below and a plug-in's (the MISF paper's tables),
is one entry of :data:`harness.registry.REPORT_VIEWS`; builders import their code when called
(listing views imports no pandas).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from harness.errors import UsageError
from harness.reports.table import Table

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ViewOptions:
    """What a view may read besides the records: ``combine`` (pool each dataset's runs),
    ``extra_methods`` (views of published tables: harness methods added as rows), ``pair`` (two methods),
    ``profiles`` (metric profiles side by side), ``compact`` (no n and fail columns: a note instead)."""

    combine: bool = False
    extra_methods: tuple[str, ...] = ()
    pair: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    compact: bool = False

    def given(self) -> set[str]:
        return {name for name in FLAGS if getattr(self, name)}


#: The command line's flag of each option.
FLAGS = {"combine": "--combine", "extra_methods": "--extra-methods", "pair": "--paired", "profiles": "--profiles",
         "compact": "--compact"}


def build(name: str, records: "pd.DataFrame", sets: "pd.DataFrame", options: ViewOptions = ViewOptions()) -> list[Table]:
    """The tables of the view ``name`` (REPORT_VIEWS); an option the view does not read is an error."""
    from harness.registry import REPORT_VIEWS

    builder = REPORT_VIEWS.get(name)
    reads = set(REPORT_VIEWS.info[name].get("options", ()))
    unused = sorted(options.given() - reads)
    if unused:
        known = f" (it reads {', '.join(FLAGS[o] for o in sorted(reads))})" if reads else ""
        raise UsageError(f"{', '.join(FLAGS[o] for o in unused)} does not apply to the {name} view{known}")
    tables = builder(records, sets, options)
    # a view of published numbers chooses its runs by protocol itself and says which
    return tables if REPORT_VIEWS.info[name].get("published") else named_protocols(tables, records)


def named_protocols(tables: list[Table], records: "pd.DataFrame") -> list[Table]:
    """Each table says the published protocols (``--protocol``) of its runs in a line above it
    ("protocol: mat-places512-large"), and its CSV data holds each row's (``custom``: none);
    runs without one add nothing."""
    import dataclasses

    from harness.reports.table import note

    if "protocol_name" not in records or not records["protocol_name"].fillna("").astype(bool).any():
        return tables
    names = dict(zip(records["run"], records["protocol_name"].fillna("").replace("", "custom")))
    labelled = []
    for table in tables:
        data = table.data
        runs = list(dict.fromkeys(data["run"])) if data is not None and "run" in data else list(names)
        shown = ", ".join(dict.fromkeys(names.get(run, "custom") for run in runs))
        said = any(f"Protocol: {shown} (" in cell.text for line in table.context for cell in line)  # the results view's
        context = table.context if said else (note(f"protocol: {shown}"), *table.context)
        if data is not None and "run" in data:
            data = data.assign(protocol=data["run"].map(names).fillna("custom"))
        labelled.append(dataclasses.replace(table, context=context, data=data))
    return labelled


def results(records, sets, options: ViewOptions) -> list[Table]:
    from harness.reports.report import results_tables

    return results_tables(records, options.combine, sets, options.compact)


def wide(records, sets, options: ViewOptions) -> list[Table]:
    from harness.reports.wide import wide_tables

    return wide_tables(records, options.combine, sets)


def confidence(records, sets, options: ViewOptions) -> list[Table]:
    import pandas as pd

    from harness.reports.stats import cell_confidence, set_confidence
    from harness.reports.table import frame_table

    table = pd.concat([cell_confidence(records), set_confidence(sets)], ignore_index=True)
    return [frame_table(table, ["mean", "ci_low", "ci_high"], "metric",
                        "Per cell: images with a value, failed items, mean (set-level metrics: their value) "
                        "and bootstrap 95% interval")]


def _pair(pair: Sequence[str], records: "pd.DataFrame") -> tuple[str, str]:
    """``--paired A,B``: two different methods, each with records here."""
    if len(pair) != 2 or pair[0] == pair[1]:
        raise UsageError(f"--paired takes two different methods A,B, got '{','.join(pair)}'")
    present = list(dict.fromkeys(records["method"])) if len(records) else []
    absent = [n for n in pair if n not in present]
    if absent:
        raise UsageError(f"--paired: no records of {', '.join(absent)} here (methods with records: "
                         f"{', '.join(present) or 'none'})")
    return pair[0], pair[1]


def paired(records, sets, options: ViewOptions) -> list[Table]:
    """The paired test of two methods; its notes say which test decides ``better`` and the rows
    where the Wilcoxon test disagrees carry a mark."""
    from dataclasses import replace

    from harness.reports.marks import TESTS_DISAGREE
    from harness.reports.stats import MIN_PAIRS, WILCOXON_ALPHA, paired_comparison
    from harness.reports.table import frame_table, mark_note, note

    a, b = _pair(options.pair, records)
    frame = paired_comparison(records, a, b)
    table = frame_table(frame, ["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"], "metric",
                        f"Paired comparison {a} (a) vs {b} (b) on the items both scored")
    names = [c.text for c in table.columns]
    better, p = names.index("better"), names.index("p_wilcoxon")

    def shown(row, agree: bool) -> tuple:
        cells = list(row)
        if cells[p].value == cells[p].value:  # a p-value to three significant digits (NaN: none, left blank)
            cells[p] = replace(cells[p], text=f"{cells[p].value:.3g}")
        if not agree:
            cells[better] = replace(cells[better], marks=(TESTS_DISAGREE,))
        return tuple(cells)

    rows = tuple(shown(row, agree) for row, agree in zip(table.rows, frame["agree"]))
    notes = [note(f"better: decided by the paired bootstrap 95% interval of mean(a − b) (ci_low, ci_high): the method "
                  "the metric's direction favours when the interval excludes 0, else none. wilcoxon_better: the two-sided "
                  f"Wilcoxon signed-rank test at p < {WILCOXON_ALPHA:g} on the same pairs, for reference; agree: whether "
                  f"the two verdicts match. Fewer than {MIN_PAIRS} pairs: undecided.")]
    notes += [mark_note(TESTS_DISAGREE)] if not frame["agree"].all() else []
    return [replace(table, sections=(rows,), notes=tuple(notes))]


def profiles(records, sets, options: ViewOptions) -> list[Table]:
    from harness.reports.profiles_report import profiles_table

    if not options.profiles:
        raise UsageError("the profiles view compares the profiles of --profiles A,B")
    return [profiles_table(records, options.profiles)]
