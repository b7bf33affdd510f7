"""``harness masks``: write a seeded protocol source's masks as files (LaMa, MAT, Co-Mod-GAN).

Kept apart from harness/cli.py (which only calls :func:`add_masks_parser`). The files are the
masks ``harness run --masks NAME --seed S`` gives images 0..C-1, so other tools (the authors'
evaluation scripts, other harnesses) can score exactly the same holes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from tabulate import tabulate

from masks.seeded import GENERATORS, WORD, hole_ratio_histogram, mask_size, seeded_mask


def add_masks_parser(subparsers: argparse._SubParsersAction) -> None:
    about = "write masks of a published generator (LaMa, MAT, Co-Mod-GAN) as 8-bit PNGs, 255 = hole"
    p = subparsers.add_parser(
        "masks", help=about, description=about, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="mask i of seed S is the official generator run right after np.random.seed([S, i])\n"
               f"sources: {', '.join(GENERATORS)}\n\n"
               "examples:\n"
               "  harness masks --source lama-thick-512 --seed 0 --count 30000 --out masks/lama-thick-512\n"
               "  harness masks --source mat-large-512 --seed 240 --count 100 --out /tmp/mat  # the stdout table: hole ratios",
    )
    p.add_argument("--source", required=True, metavar="NAME", help="one of the sources listed below")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed S in [0, 2**32) (default 0)")
    p.add_argument("--count", type=int, required=True, metavar="C", help="number of masks: files 00000.png ... C-1")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (created; existing files of the same names are replaced)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes drawing masks (default 1); the files do not depend on it")
    p.set_defaults(func=cmd_masks)


def write_masks(source: str, seed: int, count: int, out: Path, workers: int = 1) -> list[float]:
    """Write masks 0..count-1 as ``{i:05d}.png`` (8-bit grey, 255 = hole); their hole ratios.
    Each mask depends only on (source, seed, i), so workers split the indices freely."""
    mask_size(source)
    if count < 1:
        raise ValueError(f"--count must be at least 1, got {count}")
    if not 0 <= seed < WORD:
        raise ValueError(f"--seed must lie in [0, 2**32), got {seed}")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(source, seed, index, out) for index in range(count)]
    if workers == 1:
        return [_write_one(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_write_one, jobs, chunksize=max(1, count // (8 * workers))))


def _write_one(job: tuple[str, int, int, Path]) -> float:
    source, seed, index, out = job
    mask = seeded_mask(source, seed, index)
    Image.fromarray(mask).save(out / f"{index:05d}.png")
    return float(np.count_nonzero(mask)) / mask.size


def histogram_table(ratios: list[float]) -> str:
    """Markdown table of the hole ratios in ten equal bins."""
    rows = [[f"{100 * low:.0f}-{100 * high:.0f}%", count, f"{100 * count / len(ratios):.1f}"]
            for low, high, count in hole_ratio_histogram(ratios)]
    return tabulate(rows, headers=["hole ratio", "masks", "%"], tablefmt="github")


def cmd_masks(args: argparse.Namespace) -> int:
    ratios = write_masks(args.source, args.seed, args.count, Path(args.out).expanduser(), args.workers)
    print(f"{args.count} masks of {args.source}, seed {args.seed}, in {args.out}; "
          f"mean hole ratio {100 * np.mean(ratios):.2f}%")
    print(histogram_table(ratios))
    return 0
