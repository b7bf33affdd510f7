"""``harness report``: tables from run folders (no recomputation)."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import csv_list, messages, select_records, subparser
from harness.errors import UsageError
from harness.registry import REPORT_VIEWS

EXAMPLES = """examples:
  harness report                                  # one markdown table per run under ./runs
  harness report --format latex --output table.tex
  harness report --paired misf,rfrnet             # paired test per metric and bucket
  harness report --format html --output report    # report/index.html: tables, plots, image browser (offline)"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "report", "tables from run folders (no recomputation)", EXAMPLES)
    p.add_argument("--runs", metavar="DIR", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown",
                   help="default markdown; html: a folder (--output DIR) with index.html, plots and an image browser, offline")
    p.add_argument("--no-images", action="store_true", help="html: no image browser pictures (metrics only)")
    p.add_argument("--image-format", choices=["jpeg", "png", "webp"], default="jpeg",
                   help="html: pictures as JPEG (quality 92, default), PNG (lossless) or WebP (lossless)")
    p.add_argument("--dataset", metavar="NAME", help="only runs of this dataset")
    p.add_argument("--run", metavar="PREFIX", help="only runs whose folder name starts with this")
    p.add_argument("--methods", metavar="LIST", help="only these methods or labels (comma-separated)")
    p.add_argument("--combine", action="store_true", help="pool the runs of each dataset into one table (says which)")
    p.add_argument("--profiles", metavar="A,B", help="the same items under several metric profiles, side by side")
    p.add_argument("--output", metavar="PATH", help="write to this file instead of stdout (html: the folder to write)")
    for name in REPORT_VIEWS:  # plug-ins' views (the MISF paper's --paper, --reproduction), with their options
        for flag, keywords in REPORT_VIEWS.info[name].get("arguments", ()):
            p.add_argument(flag, **keywords)
    p.add_argument("--confidence", action="store_true", help="per cell: images and bootstrap 95%% CI of the mean")
    p.add_argument("--paired", metavar="A,B", help="paired test of two methods per metric and bucket (html: the pair shown first)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.store.records import load_records, load_set_metrics, runs_root

    root = Path(args.runs) if args.runs else runs_root()
    records, sets = select_records(load_records(root), args), select_records(load_set_metrics(root), args)
    if args.format == "html":
        return _html_report(root, records, sets, args)
    text = _report_text(records, sets, args).rstrip("\n")
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _html_report(root: Path, records, sets, args: argparse.Namespace) -> int:
    from harness.reports.html import write_report

    if not args.output:
        raise UsageError("--format html writes a folder: give it with --output DIR")
    pair = tuple(csv_list(args.paired)) if args.paired else None
    index = write_report(root, records, sets, Path(args.output), images=not args.no_images,
                         image_format=args.image_format, pair=pair)
    messages.print(f"Wrote {index} (open it in a browser; the folder can be copied as a whole)", markup=False)
    return 0


def _report_text(records, sets, args: argparse.Namespace) -> str:
    import pandas as pd

    from harness.reports import render
    from harness.reports.report import render as render_runs

    fmt = args.format
    for name in REPORT_VIEWS:  # a plug-in's view is chosen by its first option
        arguments = REPORT_VIEWS.info[name].get("arguments", ())
        if arguments and getattr(args, arguments[0][0].lstrip("-").replace("-", "_")):
            return REPORT_VIEWS.get(name)(records, sets, args)
    if args.profiles:
        from harness.reports.profiles_report import render_profiles

        return render_profiles(records, csv_list(args.profiles), fmt)
    if args.confidence:
        from harness.reports.stats import cell_confidence, set_confidence

        table = pd.concat([cell_confidence(records), set_confidence(sets)], ignore_index=True)
        return render.table(table, fmt, ["mean", "ci_low", "ci_high"], "metric",
                            "Per cell: images with a value, failed items, mean (set-level metrics: their value) "
                            "and bootstrap 95% interval")
    if args.paired:
        from harness.reports.stats import paired_comparison

        method_a, method_b = _paired_methods(args.paired, records)
        return render.table(paired_comparison(records, method_a, method_b), fmt,
                            ["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"], "metric",
                            f"Paired comparison {method_a} (a) vs {method_b} (b) on the items both scored")
    return render_runs(records, fmt, combine=args.combine, set_metrics=sets)


def _paired_methods(text: str, records) -> tuple[str, str]:
    """``--paired A,B``: two different methods, each with records here."""
    names = csv_list(text)
    if len(names) != 2 or names[0] == names[1]:
        raise UsageError(f"--paired takes two different methods A,B, got '{text}'")
    present = list(dict.fromkeys(records["method"])) if len(records) else []
    absent = [n for n in names if n not in present]
    if absent:
        raise UsageError(f"--paired: no records of {', '.join(absent)} here (methods with records: "
                         f"{', '.join(present) or 'none'})")
    return names[0], names[1]
