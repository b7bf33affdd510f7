"""``harness shards``: write a dataset the harness knows (a folder, CelebA, ...) as tar shards.

``harness run --dataset shards --data-root 'DIR/shards-{0000..N}.tar'`` (or their URLs) then
evaluates exactly the items of the dataset: same ids, same content hashes, same manifest.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.app import messages, positive, subparser
from harness.registry import DATASETS

EXAMPLES = """layout: shards-0000.tar, ... each with KEY.<ext> (the image, as stored), KEY.mask.<ext> (its own
mask, if any) and KEY.json ({"id", "mask_id"}: the ids a run shows); the same input gives the same bytes

examples:
  harness shards --dataset folder --data-root ~/photos --out ~/shards --per-shard 1000
  harness run --methods telea --dataset shards --data-root '~/shards/shards-{0000..0003}.tar'
  harness run --methods telea --dataset shards --data-root 'https://host/shards-{0000..0003}.tar'"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "shards", "write a dataset as WebDataset-style tar shards (lossless, deterministic)", EXAMPLES)
    p.add_argument("--dataset", default="folder", metavar="NAME", help="the dataset to convert (default folder)")
    p.add_argument("--data-root", metavar="DIR", help="its folder (or $HARNESS_DATA_<NAME>)")
    p.add_argument("--file-list", metavar="FILE", help="places2: a JSON array or one path per line")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for shards-0000.tar, ... (created; must hold no shards)")
    p.add_argument("--per-shard", type=positive, default=1000, metavar="N", help="samples per shard (default 1000)")
    p.set_defaults(func=cmd_shards)


def cmd_shards(args: argparse.Namespace) -> int:
    if args.dataset not in DATASETS:
        raise DATASETS.unknown(args.dataset, " (`harness list` shows them)")
    from harness.data.datasets import load_dataset
    from harness.data.shard_writer import write_shards

    dataset = load_dataset(args.dataset, args.data_root, args.file_list)
    written = write_shards(dataset, Path(args.out).expanduser(), args.per_shard)
    last = len(written.shards) - 1
    messages.print(f"{written.samples} samples of {args.dataset} ({written.masks} with their own mask) in "
                   f"{len(written.shards)} shard(s): {args.out}/shards-{{0000..{last:04d}}}.tar", markup=False,
                   highlight=False)
    if written.encoded:
        messages.print(f"note: {written.encoded} image(s) stored as PNG of the pixels the dataset loads (no file, "
                       "or a file that loads otherwise)", markup=False, highlight=False)
    if written.without_image:
        messages.print(f"note: {written.without_image} image(s) could not be read: their samples hold no image and "
                       "are input failures of a run on the shards, as of one on the dataset", markup=False,
                       highlight=False, style="yellow")
    return 0
