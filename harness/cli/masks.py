"""``harness masks``: write a seeded protocol source's masks as files (LaMa, MAT, Co-Mod-GAN).

The files are the masks ``harness run --masks NAME --seed S`` gives images 0..C-1, so other
tools (the authors' evaluation scripts, other harnesses) can score exactly the same holes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.builtins import SEEDED_MASKS
from harness.cli.app import console, subparser
from harness.errors import UsageError

EXAMPLES = f"""mask i of seed S is the official generator run right after np.random.seed([S, i])
sources: {', '.join(SEEDED_MASKS)}

examples:
  harness masks --source lama-thick-512 --seed 0 --count 30000 --out masks/lama-thick-512
  harness masks --source mat-large-512 --seed 240 --count 100 --out /tmp/mat  # the stdout table: hole ratios"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subparser(sub, "masks", "write masks of a published generator (LaMa, MAT, Co-Mod-GAN) as 8-bit PNGs, "
                  "255 = hole", EXAMPLES)
    p.add_argument("--source", required=True, metavar="NAME", help="one of the sources listed below")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed S in [0, 2**32) (default 0)")
    p.add_argument("--count", type=int, required=True, metavar="C", help="number of masks: files 00000.png ... C-1")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write (created; existing files of the same names are replaced)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes drawing masks (default 1); the files do not depend on it")
    p.set_defaults(func=cmd_masks)


def write_masks(source: str, seed: int, count: int, out: Path, workers: int = 1) -> list[float]:
    """Write masks 0..count-1 as ``{i:05d}.png`` (8-bit grey, 255 = hole); their hole ratios.
    Each mask depends only on (source, seed, i), so workers split the indices freely."""
    from harness.data.mask_sets import mask_source
    from masks.seeded import WORD
    from masks.sources import SEEDED

    if mask_source(source).pairing != SEEDED:
        raise UsageError(f"mask set '{source}' is not a generator; harness masks draws {', '.join(SEEDED_MASKS)}")
    if count < 1:
        raise UsageError(f"--count must be at least 1, got {count}")
    if not 0 <= seed < WORD:
        raise UsageError(f"--seed must lie in [0, 2**32), got {seed}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(source, seed, index, out) for index in range(count)]
    if workers == 1:
        return [_write_one(job) for job in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_write_one, jobs, chunksize=max(1, count // (8 * workers))))


def _write_one(job: tuple[str, int, int, Path]) -> float:
    import numpy as np
    from PIL import Image

    from masks.seeded import seeded_mask

    source, seed, index, out = job
    mask = seeded_mask(source, seed, index)
    Image.fromarray(mask).save(out / f"{index:05d}.png")
    return float(np.count_nonzero(mask)) / mask.size


def histogram_table(ratios: list[float]) -> str:
    """Markdown table of the hole ratios in ten equal bins."""
    from tabulate import tabulate

    from masks.seeded import hole_ratio_histogram

    rows = [[f"{100 * low:.0f}-{100 * high:.0f}%", count, f"{100 * count / len(ratios):.1f}"]
            for low, high, count in hole_ratio_histogram(ratios)]
    return tabulate(rows, headers=["hole ratio", "masks", "%"], tablefmt="github")


def cmd_masks(args: argparse.Namespace) -> int:
    ratios = write_masks(args.source, args.seed, args.count, Path(args.out).expanduser(), args.workers)
    console.print(f"{args.count} masks of {args.source}, seed {args.seed}, in {args.out}; "
                  f"mean hole ratio {100 * sum(ratios) / len(ratios):.2f}%", markup=False, highlight=False)
    console.print(histogram_table(ratios), markup=False, highlight=False)
    return 0
