"""CPU seconds and FLOPs per image of MAT, MI-GAN and Co-Mod-GAN at 256x256 and 512x512, against big-LaMa.

Each method runs at its native size with untrained weights (same cost as trained ones, no
downloads); big-LaMa, timed in the same process at the same size, is the reference, so the
ratio is meaningful on a shared, busy machine where absolute seconds are not. FLOPs are counted
with ``torch.utils.flop_counter`` (matmuls and convolutions, 2 FLOPs per multiply-add; element-wise
ops are not counted).

    python benchmarks/new_baselines_cpu_time.py [--sizes 256 512] [--threads 2] [--repeats 2]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.baselines_cpu_time import seconds_per_image
from harness.predictor import Predictor

REFERENCE = "lama"


def builders(size: int) -> dict[str, Predictor]:
    """Predictors to time at ``size``, the reference first."""
    from baselines.comodgan import random_predictor as comodgan
    from baselines.lama import random_predictor as lama
    from baselines.mat import random_predictor as mat
    from baselines.migan import random_predictor as migan

    return {REFERENCE: lama(device="cpu"), **{f"{name}-{size}": build(device="cpu", resolution=size)
                                              for name, build in (("mat", mat), ("migan", migan),
                                                                  ("comodgan", comodgan))}}


def flops_per_image(predictor: Predictor, size: int) -> int:
    """FLOPs of one predict() call on one image (for the random models: one seeded forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    images, masks = torch.rand(1, 3, size, size), torch.zeros(1, 1, size, size)
    masks[..., size // 4: size // 2, size // 4: 3 * size // 4] = 1
    with FlopCounterMode(display=False) as counter:
        predictor.predict(images * (1 - masks), masks)
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, CPU; reference {REFERENCE} at the same size")
    for size in args.sizes:
        reference = None
        for name, predictor in builders(size).items():
            wall, cpu = seconds_per_image(predictor, size=size, repeats=args.repeats)
            wall_s, cpu_s = statistics.median(wall), statistics.median(cpu)
            reference = reference or (wall_s, cpu_s)
            print(f"{size}x{size} {name:<13} wall {wall_s:7.2f} s/image ({wall_s / reference[0]:5.2f}x {REFERENCE}), "
                  f"CPU {cpu_s:7.2f} s/image ({cpu_s / reference[1]:5.2f}x), "
                  f"{flops_per_image(predictor, size) / 1e9:8.1f} GFLOP/image")


if __name__ == "__main__":
    main()
