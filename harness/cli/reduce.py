"""``harness reduce``: merge the parts of a shared run (``--shard`` processes) into its records."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import console, csv_list, messages, subparser
from harness.errors import UsageError

EXAMPLES = """examples:
  harness run --shard 0/2 --methods telea; harness run --shard 1/2 --methods telea   # the parts
  harness reduce --run runs                    # every run under runs/ that holds parts: their records
  harness reduce --run runs/sample-generated-256px-... --methods telea"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "reduce", "merge the parts of a shared run (--shard) into its records, reading no prediction",
                  EXAMPLES)
    p.add_argument("--run", required=True, metavar="DIR", help="a run folder the shards wrote (it holds run.json and "
                   "parts/), or a runs folder: each run in it that holds parts")
    p.add_argument("--methods", metavar="LIST", help="labels to merge (default: every method with parts)")
    p.set_defaults(func=cmd_reduce)


def cmd_reduce(args: argparse.Namespace) -> int:
    folder = Path(args.run)
    runs = [folder] if (folder / "run.json").is_file() else sorted(p.parent for p in folder.glob("*/parts") if p.is_dir())
    if not runs:
        raise UsageError(f"--run {folder}: neither a run folder (no run.json) nor a runs folder holding a run with "
                         "parts; run the shards first (harness run ... --shard I/N)")
    from harness.engine.reduce import labels_with_parts, reduce_run
    from harness.reports.report import render
    from harness.store.records import load_records, load_set_metrics

    labels, code = csv_list(args.methods) or None, 0
    for run_dir in runs:
        if labels is None and not labels_with_parts(run_dir):
            raise UsageError(f"--run {run_dir}: no parts to merge (parts/ is empty): run the shards first")
        results = reduce_run(run_dir, labels)
        names = [m.label for m in results]
        records, sets = load_records(run_dir), load_set_metrics(run_dir)
        console.print(render(records[records["method"].isin(names)], "markdown",
                             set_metrics=sets[sets["method"].isin(names)]), markup=False)
        for method in results:
            counts = method.counts()
            messages.print(f"{method.label}: {counts['scored_items']} scored, {counts['failed_items']} failed, "
                           f"{method.predicted} predicted (merged from {run_dir}/parts)", markup=False, highlight=False)
        empty = [m.label for m in results if not m.counts()["scored_items"]]
        if empty:
            messages.print(f"error: {', '.join(empty)} scored no item (exit code 3)", markup=False, highlight=False,
                           style="red")
            code = 3
    return code
