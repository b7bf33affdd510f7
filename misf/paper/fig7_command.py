"""``harness fig7``: the paper's Fig. 7, filtered vs pre-filtered feature cross-correlation per
example and bucket (registered as a subcommand in :mod:`misf.plugin`)."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from harness.cli.app import add_spec_arguments, messages, positive, spec_from_args, subparser

EXAMPLES = """examples:
  harness fig7 --checkpoint random --samples 2 --size 64     # untrained demo, titled as such
  harness fig7 --checkpoint ~/w/celebA_InpaintingModel_gen.pth --dataset celeba --samples 1000"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "fig7", "the paper's Fig. 7 feature cross-correlation (MISF and Sem-Filter variants)", EXAMPLES)
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


def cmd_fig7(args: argparse.Namespace) -> int:
    """Fig. 7: filtered vs pre-filtered feature cross-correlation, per example and bucket."""
    import torch

    from harness.data.manifest import build_manifest
    from harness.predictor import pick_device
    from harness.engine.progress import display, track
    from harness.store.records import runs_root
    from harness.engine.options import bind, check_known, parse_pairs
    from harness.registry import load_predictor, method_entry
    from harness.engine.runner import weights_hint
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
