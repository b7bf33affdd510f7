"""``harness export``: write a protocol's inputs for a model run elsewhere (harness.data.export)."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import add_spec_arguments, messages, spec_from_args, subparser
from harness.data.layouts import LAYOUTS, PREDICTIONS_FOLDER

EXAMPLES = """examples:
  harness export --out inputs --limit 2                      # the embedded sample, plain layout
  harness export --out lama-in --layout lama --dataset celeba --data-root ~/data/celeba --masks nvidia --mask-root ~/masks
  # then run your model on the files and score what it wrote, under every profile:
  harness run --methods mine=predictions:inputs/predictions --limit 2 --profile paper,lama,edgeconnect"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "export", "write a protocol's inputs (image, mask, masked image) for a model run elsewhere", EXAMPLES)
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (new, or an earlier export)")
    p.add_argument("--layout", choices=list(LAYOUTS), default="plain",
                   help="how files are named and laid out: plain, or as the official test scripts of LaMa, MISF, "
                   "EdgeConnect and MAT read them (default plain; docs/predictions.md §2)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from harness.cli.preflight import check_spec_flags
    from harness.environment import Environment

    check_spec_flags(args)  # before the manifest is built: a typo costs a second
    env = Environment.read()
    from harness.data.export import export

    done = export(spec_from_args(args), args.out, args.layout, env.cache_root, env.roots)
    messages.print(f"exported {done.items} item(s) in the {done.layout} layout to {done.folder}; write the predictions "
                   f"({LAYOUTS[done.layout].output}) to {Path(done.folder) / PREDICTIONS_FOLDER} and score them with "
                   f"harness run --methods LABEL=predictions:{Path(done.folder) / PREDICTIONS_FOLDER} and the same data flags",
                   markup=False, highlight=False)
    return 0
