"""Command line: ``harness run | report | check | list`` and the subcommands plug-ins register."""
from harness.cli.app import main

__all__ = ["main"]
