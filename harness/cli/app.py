"""Command line: the parser, built from the registry's subcommands, and ``main``.

Each subcommand is its own module (``harness.cli.run``, ``harness.cli.report``, ...) with an
``add_parser(subparsers)`` registered in :data:`harness.registry.SUBCOMMANDS`; plug-ins add
theirs the same way (the MISF paper's ``train`` and ``fig7``). This module holds what they share.
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
import warnings

from rich.console import Console

from harness.data.spec import RunSpec
from harness.errors import UsageError
from harness.registry import DATASETS, MASK_SOURCES, PROTOCOLS, Registry

class _Console(Console):
    """Rich's console, but a reader closing the pipe reaches :func:`main` (rich would exit 1, our "regression")."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


console = _Console(soft_wrap=True, emoji=False)  # stdout: tables only
messages = _Console(soft_wrap=True, stderr=True, emoji=False)  # stderr: summaries, notes, errors (progress: harness.engine.progress)


def csv_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and protocol")
    group.add_argument("--protocol", metavar="NAME", help=f"a published protocol: {_names(PROTOCOLS)}; sets dataset, "
                       "size, resize, masks, buckets, seed, profile (and run's --set-metrics) as the paper did; "
                       "a flag that says otherwise is an error (`harness list` shows each)")
    group.add_argument("--dataset", metavar="NAME",
                       help=f"{_names(DATASETS)} (default sample, embedded)")
    group.add_argument("--data-root", metavar="DIR", help="dataset folder, for shards their pattern or URL "
                       "('shards-{0000..0099}.tar') (or $HARNESS_DATA_<NAME>)")
    group.add_argument("--file-list", metavar="FILE", help="places2: a JSON array or one path per line")
    group.add_argument("--masks", metavar="SET",
                       help=f"mask set: {_names(MASK_SOURCES)} (default: the dataset's)")
    group.add_argument("--mask-root", metavar="DIR", help="mask folder (nvidia: or $HARNESS_NVIDIA_MASKS)")
    group.add_argument("--mask-polarity", choices=["white", "black"], default="white",
                       help="which value marks holes (default white)")
    group.add_argument("--buckets", help="hole-ratio buckets in percent, default 0-20,20-40,40-60")
    group.add_argument("--seed", type=int, metavar="N",
                       help="seed of the generated masks and of the mask pairing (default 0)")
    group.add_argument("--limit", type=positive, metavar="N", help="images per bucket (default: all)")
    group.add_argument("--size", type=positive, metavar="PX", help="evaluation resolution (default 256, as the paper)")
    group.add_argument("--resize", choices=["pil-bilinear", "cv2-bilinear"],
                       help="how images and masks are resized to --size (default pil-bilinear, as the paper)")
    group.add_argument("--profile", metavar="NAMES",
                       help=f"metric convention profile(s): {_profile_names()} (default paper; `harness list` "
                       "describes them); run: several, comma-separated, score one set of predictions")


def _names(registry: Registry) -> str:
    """The registered names, plug-ins' included (reading them imports no target)."""
    return ", ".join(registry.names())


def _profile_names() -> str:
    from harness.metrics import profiles

    return ", ".join(profiles())


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The spec of the flags given, the rest from ``--protocol`` or RunSpec's defaults (a flag that
    contradicts the protocol is a UsageError)."""
    from harness.data.protocols import resolve

    return RunSpec(**resolve(args.protocol, dict(
        dataset=args.dataset, data_root=args.data_root, file_list=args.file_list, masks=args.masks,
        mask_root=args.mask_root, mask_polarity=args.mask_polarity, buckets=args.buckets, seed=args.seed,
        limit=args.limit, size=args.size, resize=args.resize, profile=args.profile,
    )))


def select_records(frame, args: argparse.Namespace):
    """Only the runs, datasets and methods ``--run``, ``--dataset`` and ``--methods`` name."""
    if args.dataset:
        frame = frame[frame["dataset"] == args.dataset]
    if args.run:
        frame = frame[frame["run"].str.startswith(args.run)]
    if args.methods:
        frame = frame[frame["method"].isin(csv_list(args.methods))]
    return frame


def subparser(sub: argparse._SubParsersAction, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand's parser with its help and the example block at the end of its --help."""
    return sub.add_parser(name, help=help, description=help, epilog=examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    from harness import __version__
    from harness.registry import SUBCOMMANDS

    parser = argparse.ArgumentParser(
        prog="harness", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate inpainting methods (MISF, its baselines, your own models) under one protocol.",
        epilog="quick start:\n  harness list\n  harness run --methods telea,biharmonic --limit 2\n  harness report\n\n"
               "`harness COMMAND --help` shows each command's options and examples.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        SUBCOMMANDS.get(name)(sub)
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like ``parse_args``, but an unknown flag is answered by its subcommand's usage with the
    closest flag of that subcommand, not by the top-level usage."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command = commands.choices[args.command]
        flags = [flag for action in command._actions for flag in action.option_strings]
        close = difflib.get_close_matches(extras[0].partition("=")[0], flags, n=1, cutoff=0.6)
        command.error(f"unrecognized argument: {' '.join(extras)}" + (f" (did you mean {close[0]}?)" if close else ""))
    return args


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 regression or --strict failure (some item failed), 2 a user's mistake (one
    ``error:`` line), 3 a method scored no item at all (every item failed), 130 Ctrl-C, 141 the reader
    of stdout went away (``harness report | head``), as a shell reports a process ended by SIGPIPE.

    User-facing errors are :class:`harness.errors.UsageError` (unknown names, bad flags, wrong
    files, failing plug-ins), missing files and weights, ``ValueError`` raised by the harness's
    input checks, and writes refused by the file system; anything else is a bug and keeps its traceback.
    """
    from harness.errors import Interrupted, RankError, storage_message

    args = parse_arguments(build_parser(), argv)
    warnings.showwarning = _warning_line
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 141
    except Interrupted as error:
        messages.print(str(error), markup=False, highlight=False, style="yellow")
        return 130
    except RankError as error:  # a process of a shared run: not the user's mistake, so 1
        messages.print(f"error: {error}", markup=False, highlight=False, style="red")
        return 1
    except KeyboardInterrupt:
        messages.print("interrupted before any method ran; nothing to resume", style="yellow")
        return 130
    except (UsageError, FileNotFoundError, ValueError) as error:
        return _error(str(error))
    except OSError as error:
        message = storage_message(error)
        if message is None:
            raise
        return _error(message)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one ``warning:`` line on stderr, without Python's source-line echo."""
    messages.print(f"warning: {message}", markup=False, highlight=False, style="yellow")


def _error(message: str) -> int:
    messages.print(f"error: {message}", markup=False, highlight=False, style="red")
    return 2


if __name__ == "__main__":
    sys.exit(main())
