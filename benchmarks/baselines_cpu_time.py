"""CPU seconds per 256x256 image of the learned baselines, with random weights, in steady state.

Random weights cost the same as trained ones and need no downloads. Each method is listed
in ``RANDOM_BUILDERS`` as ``"module:function"``, where ``function(device=None)`` returns a
harness Predictor with random weights; add a line there to time another method.

    python benchmarks/baselines_cpu_time.py [NAME ...] [--threads 2] [--batch 1] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from harness.predictor import Predictor
from harness.registry import import_target

RANDOM_BUILDERS = {
    "edgeconnect": "baselines.edgeconnect:random_predictor",
    "ctsdg": "baselines.ctsdg:random_predictor",
    "rfrnet": "baselines.rfrnet:random_predictor",
    "lama": "baselines.lama:random_predictor",
    "pconv": "baselines.pconv:random_predictor",
    "jpgnet": "baselines.jpgnet:random_predictor",
    "structureflow": "baselines.structureflow:random_predictor",
    "structureflow-no-rtv": "baselines.structureflow:random_predictor",
    "misf": "misf.predictor:random_predictor",
}
#: Methods timed with a precomputed ``structure=`` image, so without their own preprocessing.
GIVEN_STRUCTURE = {"structureflow-no-rtv"}


def seconds_per_image(
    predictor: Predictor, size: int = 256, batch: int = 1, repeats: int = 3, given_structure: bool = False
) -> tuple[list[float], list[float]]:
    """Wall and process-CPU seconds per image of ``repeats`` timed calls after one warm-up call.

    CPU seconds (summed over threads) barely move when other jobs share the cores; wall
    seconds do, so both are reported.
    """
    generator = torch.Generator().manual_seed(0)
    truth = torch.rand(batch, 3, size, size, generator=generator)
    masks = torch.zeros(batch, 1, size, size)
    masks[..., size // 4 : size // 2, size // 4 : 3 * size // 4] = 1
    images = truth * (1 - masks)
    extra = {"ground_truth": truth} if predictor.reads_ground_truth else {}
    if given_structure:
        extra["structure"] = truth  # any [0,1] image costs the same
    wall, cpu = [], []
    for call in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        predictor.predict(images, masks, **extra)
        if call:  # the first call warms up allocators and kernels
            wall.append((time.perf_counter() - start) / batch)
            cpu.append((time.process_time() - start_cpu) / batch)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(RANDOM_BUILDERS), help="methods to time (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, 256x256, CPU")
    for name in args.names:
        predictor = import_target(RANDOM_BUILDERS[name])(device="cpu")
        wall, cpu = seconds_per_image(predictor, batch=args.batch, repeats=args.repeats,
                                      given_structure=name in GIVEN_STRUCTURE)
        print(
            f"{name:<20} wall {statistics.median(wall):6.2f} s/image (median of {len(wall)}; min {min(wall):.2f}), "
            f"CPU {statistics.median(cpu):6.2f} s/image"
        )


if __name__ == "__main__":
    main()
