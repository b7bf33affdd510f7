"""Report views by name: what ``harness report --view NAME`` shows, as tables any style renders.

A view builds :class:`harness.table.Table` objects from the selected records and set-level
results; it names the options it reads, so that an option it would ignore is an error rather
than silently dropped. Views register beside each other here, one ``@view`` each, and import
their builders when called (listing them imports no pandas).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from harness.errors import UnknownName, UsageError
from harness.table import Table

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ViewOptions:
    """What a view may read besides the records: ``combine`` (pool each dataset's runs),
    ``extra_methods`` (paper tables: harness methods added as rows), ``pair`` (two methods),
    ``profiles`` (metric profiles side by side)."""

    combine: bool = False
    extra_methods: tuple[str, ...] = ()
    pair: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()

    def given(self) -> set[str]:
        return {name for name in FLAGS if getattr(self, name)}


#: The command line's flag of each option.
FLAGS = {"combine": "--combine", "extra_methods": "--extra-methods", "pair": "--paired", "profiles": "--profiles"}


Builder = Callable[["pd.DataFrame", "pd.DataFrame", ViewOptions], list[Table]]


@dataclass(frozen=True)
class View:
    name: str
    help: str
    build: Builder
    options: frozenset[str] = field(default_factory=frozenset)


VIEWS: dict[str, View] = {}


def view(name: str, help: str, options: Sequence[str] = ()) -> Callable[[Builder], Builder]:
    """Register a builder as the view ``name``, reading ``options`` (fields of ViewOptions)."""
    def add(build: Builder) -> Builder:
        if name in VIEWS:
            raise ValueError(f"view '{name}' is registered twice")
        VIEWS[name] = View(name, help, build, frozenset(options))
        return build

    return add


def get(name: str) -> View:
    """The view ``name``; an unknown name is an error that suggests the closest ones."""
    if name in VIEWS:
        return VIEWS[name]
    close = difflib.get_close_matches(name, VIEWS, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownName(f"unknown view '{name}'{hint} (views: {', '.join(VIEWS)})")


def build(name: str, records: "pd.DataFrame", sets: "pd.DataFrame", options: ViewOptions = ViewOptions()) -> list[Table]:
    """The tables of the view ``name``; an option the view does not read is an error."""
    chosen = get(name)
    unused = sorted(options.given() - chosen.options)
    if unused:
        reads = f" (it reads {', '.join(FLAGS[o] for o in sorted(chosen.options))})" if chosen.options else ""
        raise UsageError(f"{', '.join(FLAGS[o] for o in unused)} does not apply to the {name} view{reads}")
    return chosen.build(records, sets, options)


@view("results", "one table per run: methods × bucket n, failures, metric means, best bold (default)", ["combine"])
def _results(records, sets, options: ViewOptions) -> list[Table]:
    from harness.report import results_tables

    return results_tables(records, options.combine, sets)


def _paper(table: str, what: str) -> None:
    """Register the paper's ``table`` as the view paper-``table``."""
    @view(f"paper-{table}", f"the paper's {table.replace('table', 'Table ')} ({what}), measured beside published",
          ["extra_methods"])
    def build(records, sets, options: ViewOptions) -> list[Table]:
        from harness.paper import paper_layout

        return [paper_layout(records, table, options.extra_methods)]


_paper("table2", "comparison with the baselines")
_paper("table3", "ablation")
_paper("table4", "Sem-Filter's deep features")


@view("reproduction", "measured - published per cell, tolerances, the paper's relative claims")
def _reproduction(records, sets, options: ViewOptions) -> list[Table]:
    from harness.paper import reproduction_tables

    return reproduction_tables(records)


@view("confidence", "per cell: images, failures and the bootstrap 95% interval of the mean")
def _confidence(records, sets, options: ViewOptions) -> list[Table]:
    import pandas as pd

    from harness.stats import cell_confidence, set_confidence
    from harness.table import frame_table

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


@view("paired", "paired test of the two methods of --paired A,B per metric and bucket", ["pair"])
def _paired(records, sets, options: ViewOptions) -> list[Table]:
    from harness.stats import paired_comparison
    from harness.table import frame_table

    a, b = _pair(options.pair, records)
    return [frame_table(paired_comparison(records, a, b), ["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"], "metric",
                        f"Paired comparison {a} (a) vs {b} (b) on the items both scored")]


@view("profiles", "the same items under the metric profiles of --profiles A,B, side by side", ["profiles"])
def _profiles(records, sets, options: ViewOptions) -> list[Table]:
    from harness.profiles_report import profiles_table

    if not options.profiles:
        raise UsageError("the profiles view compares the profiles of --profiles A,B")
    return [profiles_table(records, options.profiles)]
