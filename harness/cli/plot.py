"""``harness plot``: the report's plots as PNG and PDF for papers, one folder per run."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UsageError
from harness.cli.app import csv_list, messages, select_records, subparser

EXAMPLES = """examples:
  harness plot --output plots                     # per run: metric vs hole ratio, per-bucket distributions
  harness plot --paired misf,rfrnet --bins 10     # LaMa-style 10 bins and the paired per-item difference"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "plot", "the report's plots as PNG and PDF for papers, one folder per run", EXAMPLES)
    p.add_argument("--runs", metavar="DIR", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--dataset", metavar="NAME", help="only runs of this dataset")
    p.add_argument("--run", metavar="PREFIX", help="only runs whose folder name starts with this")
    p.add_argument("--methods", metavar="LIST", help="only these methods or labels (comma-separated)")
    p.add_argument("--metrics", metavar="LIST", help="default: every metric with values")
    p.add_argument("--kinds", default="hole-ratio,buckets,paired", metavar="LIST",
                   help="hole-ratio, buckets, paired (needs --paired); default all three")
    p.add_argument("--paired", metavar="A,B", help="methods of the paired-difference plot (A - B)")
    p.add_argument("--bins", default="buckets", metavar="BINS", help="hole-ratio bins: the run's buckets, or N equal bins (LaMa: 10)")
    p.add_argument("--formats", default="png,pdf", metavar="LIST", help="figure formats (default png,pdf)")
    p.add_argument("--output", default="plots", metavar="DIR", help="output folder (default plots)")
    p.set_defaults(func=cmd_plot)


def _bins(text: str):
    from harness.reports import plotdata

    if text != "buckets" and not (text.isdigit() and int(text) >= 1):
        raise UsageError(f"--bins takes 'buckets' or a number of equal bins, got '{text}'")
    return None if text == "buckets" else plotdata.equal_bins(int(text))


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.metrics.registry import metric_columns
    from harness.reports.plots import write_plots
    from harness.store.records import load_records, runs_root

    root = Path(args.runs) if args.runs else runs_root()
    records = select_records(load_records(root), args)
    if records.empty:
        raise UsageError(f"no records under {root}: run `harness run` first or give --runs DIR")
    pair = tuple(csv_list(args.paired)) if args.paired else None
    for run, part in records.groupby("run", sort=False):  # one folder per run: runs are never pooled
        metrics = csv_list(args.metrics) or [m for m in metric_columns(part.columns) if part[m].notna().any()]
        written = write_plots(part, Path(args.output) / run, metrics, csv_list(args.kinds), _bins(args.bins), pair,
                              csv_list(args.formats))
        messages.print(f"{run}: {len(written)} files in {Path(args.output) / run}", markup=False)
    return 0
