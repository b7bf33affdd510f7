"""Command line: ``harness run | report | check | list`` (and the MISF/paper commands)."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rich.console import Console

from harness.spec import RunSpec

console = Console(soft_wrap=True)


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_checkpoints(values: list[str] | None, names: list[str]) -> dict[str, str]:
    """``--checkpoint PATH`` (every method) or ``--checkpoint NAME=PATH`` (a label or a method; repeatable)."""
    result: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name in names:
            result[name] = path
        else:
            result.update({m: value for m in names if m not in result})
    return result


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
    group.add_argument("--dataset", default="sample", help="sample (default, embedded), celeba, places2, dunhuang, folder")
    group.add_argument("--data-root", help="dataset folder (or $HARNESS_DATA_<NAME>)")
    group.add_argument("--file-list", help="places2: a JSON array or one path per line")
    group.add_argument("--masks", help="generated, nvidia, buckets, folder, paired (default: the dataset's)")
    group.add_argument("--mask-root", help="mask folder (nvidia: or $HARNESS_NVIDIA_MASKS)")
    group.add_argument("--mask-polarity", choices=["white", "black"], default="white", help="which value marks holes")
    group.add_argument("--buckets", help="hole-ratio buckets in percent, default 0-20,20-40,40-60")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--limit", type=int, help="images per bucket")
    group.add_argument("--size", type=int, default=256, help="evaluation resolution (default 256, as the paper)")
    group.add_argument("--resize", default="pil-bilinear", choices=["pil-bilinear", "cv2-bilinear"])
    group.add_argument("--profile", default="paper", help="metric convention profile(s): paper, hole, lama, "
                       "edgeconnect (harness list); run: several, comma-separated, score one set of predictions")


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
    from harness.runner import parse_methods, run
    from harness.summary import run_summary

    entries = method_entries(args)
    if not entries:
        console.print("[red]Name at least one method with --methods[/red] (see `harness list`).")
        return 2
    names = [n for r in parse_methods(entries) for n in (r.label, r.method)]
    base = spec_from_args(args)
    shard = from_environment(args.shard, args.rank_timeout)  # torchrun's ranks, --shard I/N, or None
    for profile in _csv(base.profile) or ["paper"]:  # several profiles score one set of cached predictions
        spec = dataclasses.replace(base, profile=profile)
        try:
            result = run(
                spec, entries, parse_checkpoints(args.checkpoint, names), args.device, args.batch_size,
                Path(args.out) if args.out else None, args.strict, not args.no_progress, parse_pairs(args.option),
                _metric_names(spec, args.no_lpips), replace=args.replace, set_metrics=_csv(args.set_metrics),
                inception_weights=args.inception_weights, set_bootstrap=args.set_bootstrap,
                execution=Execution(args.precision, args.channels_last, args.compile, args.cudnn_benchmark),
                keep=args.keep_outputs, workers=args.workers, metrics_device=args.metrics_device, shard=shard,
            )
        except StrictModeError as error:
            console.print(f"[red]--strict: {error}[/red]", highlight=False)
            return 1
        if shard is not None and not shard.writes_records:
            console.print(shard.report(), markup=False, highlight=False)
            continue
        labels = [m.label for m in result.methods]
        records, sets = load_records(result.run_dir), load_set_metrics(result.run_dir)
        console.print(render(records[records["method"].isin(labels)], "markdown",
                             set_metrics=sets[sets["method"].isin(labels)]), markup=False)
        for line in run_summary(result):
            console.print(line, markup=False, highlight=False)
        _print_failures(result.failures)
        console.print(f"Results: {result.run_dir}", markup=False)
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
    console.print(f"[yellow]{len(failures)} failed item(s):[/yellow]")
    for failure in failures[:20]:
        console.print(f"  {failure.method} {failure.item_id} [{failure.stage}] {failure.reason}", markup=False, highlight=False)
    if len(failures) > 20:
        console.print(f"  ... and {len(failures) - 20} more (input_failures.csv and the records' status and reason columns)")


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
    text = _report_text(records, sets, args).rstrip("\n")
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
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

        method_a, method_b = _csv(args.paired)
        return render.table(paired_comparison(records, method_a, method_b), fmt,
                            ["mean_a", "mean_b", "mean_diff", "ci_low", "ci_high"], "metric",
                            f"Paired comparison {method_a} (a) vs {method_b} (b) on the items both scored")
    return render_runs(records, fmt, combine=args.combine, set_metrics=sets)


def cmd_check(args: argparse.Namespace) -> int:
    from harness.check import Expectations, compare, expectations_from_records, find_run
    from harness.records import load_records, read_run, runs_root
    from harness.runner import run

    expected = Expectations.read(args.expected)
    root = Path(args.runs) if args.runs else runs_root()
    if args.no_run:
        run_dir = find_run(root, expected)
    else:  # metrics are recomputed from the cached outputs: a changed metric is caught on a warm cache
        run_dir = run(expected.spec, list(expected.methods), out=root, show_progress=not args.no_progress,
                      replace=True, rescore=True).run_dir
    records = load_records(run_dir)
    if args.write:
        fingerprint = read_run(run_dir)[1].get("data_fingerprint")
        expectations_from_records(expected.spec, list(expected.methods), records, fingerprint).write(args.expected)
        console.print(f"Wrote expectations to {args.expected}")
        return 0
    diff = compare(expected, records)
    bad = diff[~diff["ok"]]
    console.print(f"{len(diff) - len(bad)}/{len(diff)} cells within tolerance ({args.expected}; run {run_dir})", markup=False)
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

    root = Path(args.runs) if args.runs else runs_root()
    records = load_records(root)
    methods = _csv(args.methods) or list(dict.fromkeys(records["method"]))
    runs = [r for r in find_runs(root) if r.name in set(records.loc[records["dataset"] == args.dataset, "run"])]
    if not runs:
        console.print(f"No run of dataset '{args.dataset}' under {root}", markup=False)
        return 2
    zoom = tuple(int(v) for v in _csv(args.zoom)) if args.zoom else None
    grid = comparison_grid(runs[0], methods, records, args.bucket, args.samples, zoom)
    grid.save(args.output)
    console.print(f"Wrote {args.output} ({grid.width}x{grid.height}) from {runs[0]}", markup=False)
    return 0


def cmd_fig7(args: argparse.Namespace) -> int:
    """Fig. 7: filtered vs pre-filtered feature cross-correlation, per example and bucket."""
    import torch

    from harness.manifest import build_manifest
    from harness.records import runs_root
    from harness.options import bind, check_known, parse_pairs
    from harness.registry import load_predictor, method_entry
    from harness.runner import weights_hint
    from misf.fig7 import fig7_values, plot_fig7

    spec = spec_from_args(args)
    spec = dataclasses.replace(spec, limit=args.samples)
    manifest = build_manifest(spec)
    factory, given = method_entry(args.method).factory(), parse_pairs(args.option)
    check_known({args.method: factory}, given)
    options = bind(factory, given, weights_hint(spec))
    predictor = load_predictor(args.method, checkpoint=args.checkpoint, device=args.device, **options)

    def items():
        for item in manifest.items:
            image, mask = manifest.load(item)
            yield item.item_id, item.bucket, torch.from_numpy(image).permute(2, 0, 1).float() / 255, torch.from_numpy(mask)[None]

    with torch.inference_mode():
        values = fig7_values(predictor, items(), args.batch_size)
    out = Path(args.output) if args.output else runs_root() / "fig7" / f"{spec.run_name()}-{args.method}"
    out.mkdir(parents=True, exist_ok=True)
    values.to_csv(out / "fig7_values.csv", index=False)
    plot_fig7(values, out / "fig7.png", f"{args.method} on {spec.dataset}")
    summary = values.groupby("bucket")[["ncc_pre", "ncc_post", "ncc_pre_hole", "ncc_post_hole"]].mean()
    print(summary.to_string())
    console.print(f"Wrote {out / 'fig7_values.csv'} and {out / 'fig7.png'}", markup=False)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.inventory import inventory_tables

    for title, table in inventory_tables():
        console.print(f"[bold]{title}[/bold]")
        console.print(table, markup=False)
        console.print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="evaluate methods on a dataset x mask buckets")
    p.add_argument("--methods", help="comma-separated METHOD or LABEL=METHOD (registered names or pkg.module:factory)")
    p.add_argument("--method", action="append", help="one method (repeatable)")
    p.add_argument("--name", help="label for the results of a single method (e.g. two checkpoints of one method)")
    p.add_argument("--replace", action="store_true", help="let a label's new results replace those of another predictor")
    p.add_argument("--checkpoint", action="append", help="PATH for every method, or LABEL=PATH / METHOD=PATH (repeatable)")
    p.add_argument("--device", help="cuda, cpu, cuda:1 ... (default: CUDA when present)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="passed to the method factories (repeatable)")
    p.add_argument("--batch-size", type=int, help="items per batch (default per device: 32 on a GPU, 1 on a CPU)")
    p.add_argument("--workers", type=int, help="loader processes decoding items (default per device)")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default="fp32",
                   help="model arithmetic (default fp32 without TF32, as the official numbers); part of the cache key")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for the model")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune convolution algorithms")
    p.add_argument("--keep-outputs", choices=["holes", "full", "none"], default="holes",
                   help="what the cache keeps of each prediction: its hole pixels (default, lossless for every metric "
                   "and grid), all of it, or nothing (metrics only)")
    p.add_argument("--metrics-device", help="where metrics run (default: the model's device; cpu: scikit-image)")
    p.add_argument("--out", help="runs folder (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--strict", action="store_true", help="any failed item is fatal (after writing what is done)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (it needs the VGG16 backbone)")
    p.add_argument("--set-metrics", metavar="NAMES", help="set-level metrics per bucket: FID,KID,P-IDS,U-IDS (Inception features)")
    p.add_argument("--inception-weights", metavar="FILE", help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth "
                   "(or $HARNESS_INCEPTION_WEIGHTS, or the torch hub cache)")
    p.add_argument("--set-bootstrap", type=int, default=50, metavar="N",
                   help="bootstrap resamples for the set-level metrics' intervals (default 50; 0: none)")
    p.add_argument("--shard", metavar="I/N", help="do part I of N (0-based) into the cache, for N independent "
                   "processes (a Slurm array job); then the same command without --shard writes the records")
    p.add_argument("--rank-timeout", type=float, default=1800, metavar="SECONDS",
                   help="torchrun: stop every rank when one answers nothing or finishes no item for this long (default 1800)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="tables from run folders (no recomputation)")
    p.add_argument("--runs", help="runs folder or one run (default ./runs or $HARNESS_RUNS)")
    p.add_argument("--format", choices=["markdown", "latex", "csv"], default="markdown")
    p.add_argument("--dataset")
    p.add_argument("--run", help="only runs whose folder name starts with this")
    p.add_argument("--methods")
    p.add_argument("--combine", action="store_true", help="pool the runs of each dataset into one table (says which)")
    p.add_argument("--profiles", metavar="A,B", help="the same items under several metric profiles, side by side")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.add_argument("--paper", choices=["table2", "table3", "table4"], help="the paper's table layout, measured beside published")
    p.add_argument("--extra-methods", help="with --paper: harness methods to add as rows (measured only)")
    p.add_argument("--reproduction", action="store_true", help="measured - published per cell, tolerances, the paper's claims")
    p.add_argument("--confidence", action="store_true", help="per cell: images and bootstrap 95%% CI of the mean")
    p.add_argument("--paired", metavar="A,B", help="paired test of two methods per metric and bucket")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="compare a run's aggregates with committed expectations")
    p.add_argument("--expected", required=True)
    p.add_argument("--runs")
    p.add_argument("--no-run", action="store_true", help="only read existing records")
    p.add_argument("--write", action="store_true", help="(re)write the expectations from the run")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("compare", help="Fig. 5-style grid from cached outputs: input | methods | ground truth")
    p.add_argument("--runs")
    p.add_argument("--dataset", default="sample")
    p.add_argument("--methods", help="columns, in order (default: every method of the run)")
    p.add_argument("--bucket", help="only items of this bucket, e.g. 40-60")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--zoom", metavar="X,Y,SIDE", help="red box and enlarged crop of this square")
    p.add_argument("--output", default="comparison.png")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("fig7", help="the paper's Fig. 7 feature cross-correlation (MISF and Sem-Filter variants)")
    p.add_argument("--method", default="misf")
    p.add_argument("--checkpoint", help="generator file, hf://..., or 'random' (an untrained demo, titled as such)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE")
    p.add_argument("--samples", type=int, default=8, help="examples per mask bucket")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device")
    p.add_argument("--output", help="output folder (default runs/fig7/<run>-<method>)")
    add_spec_arguments(p)
    p.set_defaults(func=cmd_fig7)

    p = sub.add_parser("cache", help="size of the cache, verify its entries, prune")
    p.add_argument("action", choices=["info", "verify", "prune"])
    p.add_argument("--temp", action="store_true", help="prune: stray temporary files of killed writers")
    p.add_argument("--damaged", action="store_true", help="prune: entries that fail verification")
    p.add_argument("--method", help="prune: every entry of this method or label")
    p.add_argument("--older-than", metavar="YYYY-MM-DD", help="prune: packs last written before this date")
    p.add_argument("--legacy", action="store_true", help="prune: files of the older per-item cache layout")
    p.set_defaults(func=cmd_cache)

    p = sub.add_parser("list", help="methods, datasets, mask sets and profiles, and what is present here")
    p.set_defaults(func=cmd_list)
    from harness.train_cli import add_train_parser
    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.errors import Interrupted, RankError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Interrupted as error:
        console.print(str(error), markup=False, highlight=False, style="yellow")
        return 130
    except RankError as error:
        console.print(f"error: {error}", markup=False, highlight=False, style="red")
        return 1
    except KeyboardInterrupt:
        console.print("interrupted before any method ran; nothing to resume", style="yellow")
        return 130
    except (FileNotFoundError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        console.print(f"error: {message}", markup=False, highlight=False, style="red")
        return 2


if __name__ == "__main__":
    sys.exit(main())
