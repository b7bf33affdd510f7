"""``harness cache``: size of the cache, verify its entries, prune."""
from __future__ import annotations

import argparse

from harness.cli.app import console, subparser

EXAMPLES = """examples:
  harness cache info
  harness cache prune --temp --damaged"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "cache", "size of the cache, verify its entries, prune", EXAMPLES)
    p.add_argument("action", choices=["info", "verify", "prune"], help="info: size per method; verify: read every "
                   "entry; prune: remove what the flags below select")
    p.add_argument("--temp", action="store_true", help="prune: stray temporary files of killed writers")
    p.add_argument("--damaged", action="store_true", help="prune: entries that fail verification")
    p.add_argument("--method", help="prune: every entry of this method or label")
    p.add_argument("--older-than", metavar="YYYY-MM-DD", help="prune: packs last written before this date")
    p.add_argument("--legacy", action="store_true", help="prune: files of the older per-item cache layout")
    p.set_defaults(func=cmd_cache)


def cmd_cache(args: argparse.Namespace) -> int:
    from harness.store import cache_admin

    lines, code = cache_admin.COMMANDS[args.action](args)
    for line in lines:
        console.print(line, markup=False, highlight=False)
    return code
