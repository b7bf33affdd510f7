"""``harness compare``: Fig. 5-style grid from cached outputs: input | methods | ground truth."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UsageError
from harness.cli.app import csv_list, messages, positive, subparser

EXAMPLES = """examples:
  harness compare --methods telea,biharmonic --bucket 40-60 --samples 3 --output fig5.png
  harness compare --methods telea,biharmonic --zoom 96,96,64 --scores PSNR,LPIPS"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "compare", "Fig. 5-style grid from cached outputs: input | methods | ground truth", EXAMPLES)
    p.add_argument("--runs", metavar="DIR", help="runs folder (default ./runs or $HARNESS_RUNS); the first run "
                   "holding every method is used")
    p.add_argument("--dataset", default="sample", metavar="NAME", help="dataset of the run (default sample)")
    p.add_argument("--methods", metavar="LIST", help="columns, in order (default: every method of the run)")
    p.add_argument("--bucket", metavar="NAME", help="only items of this bucket, e.g. 40-60")
    p.add_argument("--samples", type=positive, default=4, metavar="N", help="rows: items scored by every method (default 4)")
    p.add_argument("--zoom", metavar="X,Y,SIDE", help="red box and enlarged crop of this square (pixels at the run's size)")
    p.add_argument("--scores", metavar="NAMES", help="metrics to print under each method's panel, e.g. PSNR,LPIPS")
    p.add_argument("--output", default="comparison.png", metavar="FILE", help="PNG file to write (default comparison.png)")
    p.set_defaults(func=cmd_compare)


def parse_zoom(text: str | None) -> tuple[int, int, int] | None:
    """``X,Y,SIDE`` in pixels of the evaluation size (checked against it by the grid)."""
    if not text:
        return None
    parts = csv_list(text)
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts):
        raise UsageError(f"--zoom takes X,Y,SIDE (three integers, pixels), got '{text}'")
    return int(parts[0]), int(parts[1]), int(parts[2])


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.reports.grids import comparison_grid
    from harness.store.records import find_runs, load_records, runs_root

    zoom = parse_zoom(args.zoom)
    root = Path(args.runs) if args.runs else runs_root()
    records = load_records(root)
    mine = records[records["dataset"] == args.dataset] if len(records) else records
    if mine.empty:
        raise UsageError(f"no run of dataset '{args.dataset}' under {root}")
    methods = csv_list(args.methods) or list(dict.fromkeys(mine["method"]))
    held = mine.groupby("run")["method"].agg(set)
    runs = [r for r in find_runs(root) if r.name in held.index and set(methods) <= held[r.name]]
    if not runs:
        listing = "; ".join(f"{run}: {', '.join(sorted(found))}" for run, found in held.items())
        raise UsageError(f"no run of dataset '{args.dataset}' holds all of {', '.join(methods)} (runs: {listing})")
    grid = comparison_grid(runs[0], methods, records, args.bucket, args.samples, zoom, args.scores)
    grid.save(args.output)
    messages.print(f"Wrote {args.output} ({grid.width}x{grid.height}) from {runs[0]}", markup=False)
    return 0
