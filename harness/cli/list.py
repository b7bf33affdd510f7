"""``harness list``: methods, datasets, mask sets and profiles, and what is present here."""
from __future__ import annotations

import argparse

from harness.cli.app import console, subparser

EXAMPLES = """examples:
  harness list"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "list", "methods, datasets, mask sets and profiles, and what is present here", EXAMPLES)
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from harness.cli.inventory import inventory_tables
    from harness.environment import Environment

    for title, table in inventory_tables(Environment.read()):
        console.print(f"[bold]{title}[/bold]")
        console.print(table, markup=False)
        console.print()
    return 0
