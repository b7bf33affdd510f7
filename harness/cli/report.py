"""``harness report``: tables from run folders (no recomputation)."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import csv_list, messages, select_records, subparser
from harness.errors import UsageError
from harness.registry import REPORT_FORMATS, REPORT_VIEWS

EXAMPLES = """examples:
  harness report                                  # one markdown table per run under ./runs
  harness report --format latex --output table.tex
  harness report --format latex --compact         # for a paper: n and failures in a note, not in columns
  harness report --view wide --format latex       # methods × (metric, bucket), as the paper's Table 2 reads
  harness report --view paper-table2 --format latex   # the paper's Table 2, measured beside published
  harness report --paired misf,rfrnet             # paired test per metric and bucket (= --view paired)
  harness report --format html --output report    # report/index.html: tables, plots, image browser (offline)"""


def _aliases() -> dict[str, tuple[dict, str]]:
    """The flags that select a view (REPORT_VIEWS' ``alias``), each once: flag → (keywords, view name)."""
    found: dict[str, tuple[dict, str]] = {}
    for name in REPORT_VIEWS:
        alias = REPORT_VIEWS.info[name].get("alias")
        if alias:
            keywords, view = found.setdefault(alias[0], ({**alias[1]}, alias[2]))
            if view == alias[2] and "choices" in alias[1]:  # views sharing a flag (--paper): every choice
                keywords["choices"] = list(dict.fromkeys([*keywords["choices"], *alias[1]["choices"]]))
    return found


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "report", "tables from run folders (no recomputation)", EXAMPLES)
    p.add_argument("--runs", metavar="DIR", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--view", metavar="NAME", help="which table: " + "; ".join(
        f"{name}: {REPORT_VIEWS.info[name].get('help', '')}" for name in REPORT_VIEWS).replace("%", "%%"))
    p.add_argument("--format", choices=[*REPORT_FORMATS, "html"], default="markdown",
                   help="default markdown; html: a folder (--output DIR) with index.html, plots and an image browser, offline")
    p.add_argument("--no-images", action="store_true", help="html: no image browser pictures (metrics only)")
    p.add_argument("--image-format", choices=["jpeg", "png", "webp"],
                   help="html: pictures as JPEG (quality 92, default), PNG (lossless) or WebP (lossless)")
    p.add_argument("--dataset", metavar="NAME", help="only runs of this dataset")
    p.add_argument("--run", metavar="PREFIX", help="only runs whose folder name starts with this")
    p.add_argument("--methods", metavar="LIST", help="only these methods or labels (comma-separated)")
    p.add_argument("--combine", action="store_true", help="results view: pool the runs of each dataset into one table (says which)")
    p.add_argument("--compact", action="store_true", help="results view, for papers: no n and fail columns; n per "
                   "bucket and every method that differs or failed items in a note under the table")
    p.add_argument("--output", metavar="PATH", help="write to this file instead of stdout (html: the folder to write)")
    p.add_argument("--extra-methods", metavar="LIST", help="views of published tables: harness methods to add as rows "
                   "(measured only)")
    aliases = p.add_argument_group("view flags (aliases of --view; two that disagree are an error)")
    for flag, (keywords, _) in _aliases().items():
        aliases.add_argument(flag, **keywords)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """The chosen view as text, or with ``--format html`` the report folder; the flags are
    checked before any run is read."""
    from harness.store.records import load_records, load_set_metrics, runs_root

    view = _html_flags(args) if args.format == "html" else _report_view(args)
    root = Path(args.runs) if args.runs else runs_root()
    needs_runs = view is None or not REPORT_VIEWS.info.get(view, {}).get("published")
    if needs_runs and not root.exists():
        raise UsageError(f"--runs {root}: no such folder (the runs folder is ./runs, $HARNESS_RUNS or --out of `harness run`)")
    everything = load_records(root)
    records, sets = select_records(everything, args), select_records(load_set_metrics(root), args)
    if records.empty:
        from harness.store.shardnotes import unwritten

        waiting = unwritten(root)  # after --shard parts alone: say what is still to run
        for line in waiting:
            messages.print(line, markup=False, highlight=False)
        if needs_runs and not waiting:
            raise _nothing_selected(root, everything, args)
    if args.combine:
        from harness.reports.combine import pooled

        records = pooled(records, root)
    if view is None:
        return _html_report(root, records, sets, args)
    text = _report_text(records, sets, view, args).rstrip("\n")
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _nothing_selected(root: Path, records, args: argparse.Namespace) -> UsageError:
    """Why no records were selected, with the runs that are there."""
    if records.empty:
        return UsageError(f"no runs under {root}: run `harness run` first, or give the runs folder with --runs DIR")
    chosen = ", ".join(f"{flag} {value}" for flag, value in (("--run", args.run), ("--dataset", args.dataset),
                                                             ("--methods", args.methods)) if value)
    runs = ", ".join(dict.fromkeys(records["run"]))
    return UsageError(f"no records match {chosen} under {root}; runs there: {runs}")


def _html_flags(args: argparse.Namespace) -> None:
    """``--format html`` writes the whole report: it takes a folder, no text view."""
    if not args.output:
        raise UsageError("--format html writes a folder: give it with --output DIR")
    flags = ["--view", *(flag for flag in _aliases() if flag != "--paired"), "--extra-methods", "--combine", "--compact"]
    text_only = [flag for flag in flags if getattr(args, _dest(flag))]
    if text_only:
        raise UsageError(f"{', '.join(text_only)}: text views; --format html writes the whole report "
                         "(each run's results, the paper's tables, plots, images; --paired A,B its pair)")


def _html_report(root: Path, records, sets, args: argparse.Namespace) -> int:
    from harness.reports.html import write_report

    pair = tuple(csv_list(args.paired)) if args.paired else None
    index = write_report(root, records, sets, Path(args.output), images=not args.no_images,
                         image_format=args.image_format or "jpeg", pair=pair)
    messages.print(f"Wrote {index} (open it in a browser; the folder can be copied as a whole)", markup=False)
    return 0


def _report_view(args: argparse.Namespace) -> str:
    """The one view that ``--view`` and the alias flags name (default results); two that
    disagree are an error, not first-match-wins. With ``--view``, a flag that is also a view's
    option (``--paired``, ``--profiles``) only gives that option."""
    from harness.reports.views import FLAGS

    chosen = {f"--view {args.view}": args.view} if args.view else {}
    for flag, (_, name) in _aliases().items():
        value = getattr(args, _dest(flag))
        if value and not (args.view and flag in FLAGS.values()):
            chosen[flag] = name.format(value)
    if len(set(chosen.values())) > 1:
        raise UsageError("conflicting report views: " + ", ".join(f"{flag} selects {name}" for flag, name in chosen.items())
                         + "; choose one with --view NAME")
    if args.no_images or args.image_format:
        raise UsageError("--no-images and --image-format apply to --format html")
    name = next(iter(chosen.values()), "results")
    if name not in REPORT_VIEWS:
        raise REPORT_VIEWS.unknown(name)
    return name


def _report_text(records, sets, view: str, args: argparse.Namespace) -> str:
    from harness.reports.table import render
    from harness.reports.views import ViewOptions, build

    options = ViewOptions(args.combine, tuple(csv_list(args.extra_methods)), tuple(csv_list(args.paired)),
                          tuple(csv_list(args.profiles)), args.compact)
    tables = build(view, records, sets, options)
    return render(tables, args.format) if tables else "No records found."
