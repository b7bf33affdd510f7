"""``harness check``: compare a run's aggregates with committed expectations."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import console, messages, subparser

EXAMPLES = """examples:
  harness check --expected results/expected/sample-classical.json
  harness check --expected my.json --write         # (re)write expectations from a run"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "check", "compare a run's aggregates with committed expectations", EXAMPLES)
    p.add_argument("--expected", required=True, metavar="FILE",
                   help="expectations JSON: spec, methods, tolerances, aggregates (e.g. results/expected/*.json)")
    p.add_argument("--runs", metavar="DIR", help="runs folder (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--no-run", action="store_true", help="only read existing records")
    p.add_argument("--write", action="store_true", help="(re)write the expectations from the run")
    p.add_argument("--rescore", action="store_true", help="recompute the metrics from the cached predictions "
                   "(default: cached metrics are used; their keys carry each metric's code version)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from harness.reports.check import Expectations, compare, expectations_from_records, find_run, verdict
    from harness.store.records import load_records, load_set_metrics, read_run
    from harness.config import RunConfig
    from harness.engine.runner import run
    from harness.environment import Environment

    env = Environment.read()
    expected = Expectations.read(args.expected)
    root = Path(args.runs) if args.runs else env.runs_root
    if args.no_run:
        run_dir = find_run(root, expected)
    else:  # a warm cache is read: metric keys carry each metric's code version, held by the lock test
        from harness.engine.progress import display

        with display(not args.no_progress):
            config = RunConfig.of(expected.spec, list(expected.methods), env, out=root,
                                  progress=not args.no_progress, replace=True, rescore=args.rescore,
                                  set_metrics=expected.set_metrics, set_bootstrap=0)
            run_dir = run(config).run_dir
    records, sets = load_records(run_dir), load_set_metrics(run_dir)
    if args.write:
        fingerprint = read_run(run_dir)[1].get("data_fingerprint")
        expectations_from_records(expected.spec, list(expected.methods), records, fingerprint, sets,
                                  expected.set_metrics).write(args.expected)
        messages.print(f"Wrote expectations to {args.expected}")
        return 0
    diff = compare(expected, records, sets)
    bad = diff[~diff["ok"]] if len(diff) else diff
    # the verdict is the command's output: stdout (progress and notes stay on stderr)
    console.print(f"{len(diff) - len(bad)}/{len(diff)} cells within tolerance ({args.expected}; run {run_dir})",
                  markup=False, highlight=False)
    lines, passed = verdict(expected, diff, read_run(run_dir)[1].get("data_fingerprint"))
    for line in lines:
        console.print(line, markup=False, highlight=False)
    if not bad.empty:
        from harness.reports.check import comparison_table
        from harness.reports.table import render

        console.print("[red]Regressions:[/red]")
        console.print(render(comparison_table(bad)).rstrip("\n"), markup=False)
    return 0 if passed else 1
