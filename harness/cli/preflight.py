"""Checks of a run's flags that need no heavy import: names against the registries, files on disk.

They run before torch, torchvision or pandas load, so a typo (a method, a dataset, a mask set,
a profile, a set-level metric, a path) is answered in about a second with one line that names
the fix, instead of after the full start-up.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from harness.cli.app import csv_list, spec_from_args
from harness.data.spec import RunSpec
from harness.errors import UsageError
from harness.registry import (DATASETS, MASK_SOURCES, METHODS, add_include_path, missing_module, predictions_folder,
                              search_current_folder)


def check_run_flags(args: argparse.Namespace, entries: list[str]) -> None:
    """Raise the first mistake in ``args`` that can be found without building anything."""
    from harness.config import parse_checkpoints, parse_methods
    from harness.metrics.registry import set_metric

    add_include_path(*(args.include_path or []))
    for entry in entries:
        _check_method(entry.partition("=")[2].strip() if "=" in entry else entry.strip())
    spec = check_spec_names(args)  # an unknown --protocol, or a flag that contradicts it
    for name in run_set_metrics(args):
        for profile in csv_list(spec.profile) or [None]:  # a profile may have its own (mat: mat.FID, ...)
            set_metric(name, profile)
    _check_set_state(args)
    check_spec_paths(args, spec)  # names first: a typo is fixed before the data is fetched
    for flag, value in (("--lpips-weights", args.lpips_weights), ("--inception-weights", args.inception_weights)):
        _check_path(flag, value)
    names = [n for r in parse_methods(entries) for n in (r.label, r.method)]
    for request in parse_methods(entries, parse_checkpoints(args.checkpoint, names)):
        path = request.checkpoint  # a path for methods with official weights; a plug-in's may be any word
        if path and METHODS.info.get(request.method, {}).get("weights") and path != "random" \
                and not path.startswith("hf://"):
            _check_path("--checkpoint", path)


def _check_set_state(args: argparse.Namespace) -> None:
    """--set-sample belongs to --set-state sums, and needs enough items for a set-level value."""
    from harness.config import MIN_SAMPLE

    if args.set_sample is not None and args.set_state != "sums":
        raise UsageError("--set-sample applies to --set-state sums (set-state features keeps every item's features)")
    if args.set_sample is not None and args.set_sample < MIN_SAMPLE:
        raise UsageError(f"--set-sample {args.set_sample}: the sample needs at least {MIN_SAMPLE} items per bucket")


def run_set_metrics(args: argparse.Namespace) -> list[str]:
    """``--set-metrics``, else those of ``--protocol`` (one it does not report is a UsageError)."""
    from harness.data.protocols import set_metrics

    return set_metrics(args.protocol, csv_list(args.set_metrics))


def check_spec_flags(args: argparse.Namespace) -> RunSpec:
    """The data and protocol flags (:func:`harness.cli.app.add_spec_arguments`): names, then paths.
    Returns the spec they give (``--protocol``'s settings filled in; one contradicted is a UsageError)."""
    spec = check_spec_names(args)
    check_spec_paths(args, spec)
    return spec


def check_spec_names(args: argparse.Namespace) -> RunSpec:
    """The protocol, dataset, mask set and profiles named exist; the spec they give."""
    from harness.metrics.registry import PROFILES

    spec = spec_from_args(args)
    if spec.dataset not in DATASETS:
        raise DATASETS.unknown(spec.dataset, " (`harness list` shows them)")
    if spec.masks and spec.masks not in MASK_SOURCES:
        raise MASK_SOURCES.unknown(spec.masks)
    for profile in csv_list(spec.profile):
        if profile not in PROFILES:
            raise PROFILES.unknown(profile)
    return spec


def check_spec_paths(args: argparse.Namespace, spec: RunSpec) -> None:
    """The data, masks and file list are where the flags (or the environment) say."""
    shards = spec.dataset == "shards"  # its --data-root is a shard pattern or URL, not a folder
    if shards:
        _check_shards(args.data_root)
    else:
        _check_data_root(spec.dataset, args.data_root)
    for flag, value in (("--data-root", None if shards else args.data_root), ("--mask-root", args.mask_root),
                        ("--file-list", args.file_list)):
        _check_path(flag, value)


def _check_data_root(dataset: str, data_root: str | None) -> None:
    """A dataset that lives in a folder is given one (flag or environment) that exists."""
    from harness.environment import Environment

    source = DATASETS.get(dataset)
    if not source.needs_root or data_root:  # a --data-root given is checked as a path below
        return
    root = Environment.read().root(source.env)
    if not root:
        raise UsageError(f"--dataset {dataset} needs --data-root DIR or ${source.env} ({source.layout}; "
                         f"download: {source.download})")
    if not Path(root).expanduser().is_dir():
        raise UsageError(f"${source.env} {root}: no such folder (--dataset {dataset})")


def check_folders(runs_root: Path, cache_root: Path, out_flag: bool) -> None:
    """The runs folder and the cache can be made, or one line naming the setting that points there."""
    for folder, setting in ((runs_root, "--out" if out_flag else "$HARNESS_RUNS (default ./runs)"),
                            (cache_root, "$HARNESS_CACHE (default ~/.cache/inpainting-harness)")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot write {folder} ({error.strerror or error}): point {setting} "
                             "at a folder you can write") from None


def _check_method(method: str) -> None:
    """A registered name, ``predictions:DIR`` with an existing folder, or ``pkg.module:factory``
    whose module can be found (not imported)."""
    folder = predictions_folder(method)
    if folder is not None:  # before the plug-in syntax: the kind before the colon decides
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise UsageError(f"--methods {method}: no such folder of predictions '{path}'")
        return
    if method in METHODS:
        return
    module, sep, attr = method.partition(":")
    if not sep:
        raise METHODS.unknown(method, "; or pass pkg.module:factory.")
    search_current_folder()
    try:
        found = bool(module) and bool(attr) and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise missing_module(module, method)


def _check_shards(data_root: str | None) -> None:
    """The shards are named, their pattern expands, and each local one exists (none is read)."""
    from harness.data.shards import check_location
    from harness.environment import Environment, data_variable

    location = data_root or Environment.read().root(data_variable("shards"))
    if not location:
        raise UsageError("--dataset shards needs --data-root PATTERN (e.g. 'shards-{0000..0099}.tar', or their "
                         "http(s):// or s3:// URLs) or $HARNESS_DATA_SHARDS")
    check_location(location)


def _check_path(flag: str, value: str | None) -> None:
    if value is not None and not Path(value).expanduser().exists():
        raise UsageError(f"{flag} {value}: no such file or folder '{Path(value).expanduser()}'")
