"""CPU seconds and FLOPs per image of MI-GAN and the Co-Mod-GAN port at 256x256 and 512x512,
against big-LaMa (the reference) timed in the same run, all with random weights.

Random weights cost what trained ones do. The machine may be shared, so the ratio to the
reference timed in the same process is the figure to compare; wall and process-CPU seconds
are both printed. FLOPs are counted by ``torch.utils.flop_counter`` over one forward (2 per
multiply-add; convolutions and matrix products only, as the counter does).

    python benchmarks/migan_comodgan_cpu_time.py [--threads 2] [--repeats 2] [--sizes 256 512]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from baselines.comodgan import random_predictor as comodgan_random
from baselines.lama import random_predictor as lama_random
from baselines.migan import random_predictor as migan_random
from benchmarks.baselines_cpu_time import seconds_per_image


def flops_per_image(predictor, size: int) -> int:
    """FLOPs of one predict() call on one image (for Co-Mod-GAN: one reseeded forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        predictor.predict(torch.rand(1, 3, size, size), torch.zeros(1, 1, size, size))
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, CPU, random weights")
    for size in args.sizes:
        builders = {"lama (reference)": lambda: lama_random(device="cpu"),
                    "migan": lambda: migan_random(device="cpu", resolution=size),
                    "comodgan": lambda: comodgan_random(device="cpu", resolution=size)}
        reference = None
        for name, build in builders.items():
            predictor = build()
            wall, cpu = seconds_per_image(predictor, size=size, repeats=args.repeats)
            median = statistics.median(wall)
            reference = reference or median
            flops = flops_per_image(predictor, size)
            print(f"{size}x{size} {name:<17} wall {median:7.2f} s/image (min {min(wall):.2f}; {median / reference:5.2f}x "
                  f"LaMa), CPU {statistics.median(cpu):7.2f} s/image, {flops / 1e9:8.1f} GFLOPs/image")


if __name__ == "__main__":
    main()
