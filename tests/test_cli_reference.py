"""The README's command reference is the parser's: every flag of every subcommand, never stale."""
import argparse

from harness.cli.app import build_parser
from harness.cli.reference import README, readme_section, reference


def test_the_readme_lists_every_flag_of_every_subcommand_as_the_parser_has_them():
    assert readme_section(README.read_text()) == reference(), \
        "README's command reference is stale: run python -m harness.cli.reference --write"


def test_the_reference_names_each_flag_once_per_command():
    parser = build_parser()
    text = reference(parser)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        section = text.split(f"### `harness {name}`", 1)[1].split("### `harness ", 1)[0]
        for action in command._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in section, f"harness {name} {flag} missing from the reference"
