"""Training iterations per second of a MISF-family method on CPU, and the projected 350k-iteration time.

Uses the real training step (generator, discriminator, full-width VGG19 losses, official update
order) on synthetic images; a random VGG19 costs the same as the ImageNet one and needs no
download. A configuration too slow to time directly (e.g. the paper's batch 16 at 256x256 on a
CPU) is projected from a timed smaller batch at the same size, since CPU cost grows about
linearly with the batch.

    python benchmarks/train_speed.py [--method misf] [--configs 64x2,256x1] [--project 256x16]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from harness.data.datasets import ImageItem
from misf.losses import load_vgg19
from misf.training_data import BatchSampler, MaskPool
from misf.training import TrainConfig, Trainer

PAPER_ITERATIONS = 350_000


def _synthetic_images(count: int, size: int) -> list[ImageItem]:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]
    return [ImageItem(f"synthetic-{i}", lambda a=a: a) for i, a in enumerate(arrays)]


def seconds_per_iteration(method: str, size: int, batch: int, steps: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``steps`` training iterations after one warm-up."""
    config = TrainConfig(method=method, size=size, batch_size=batch, seed=0)
    with tempfile.TemporaryDirectory() as out:
        sampler = BatchSampler(_synthetic_images(batch, size), MaskPool(size), config.batch_size, config.seed)
        trainer = Trainer(config, sampler, load_vgg19(random_init=True), out)
        trainer.step()
        wall, cpu = [], []
        for _ in range(steps):
            start, start_cpu = time.perf_counter(), time.process_time()
            trainer.step()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def _pair(text: str) -> tuple[int, int]:
    size, _, batch = text.partition("x")
    return int(size), int(batch)


def _days(seconds: float) -> str:
    return f"{seconds * PAPER_ITERATIONS / 86400:,.1f} days"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="misf")
    parser.add_argument("--configs", default="64x2,256x1", help="SIZExBATCH,... to time")
    parser.add_argument("--project", default="256x16", help="SIZExBATCH projected from the timed config of that size")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"{args.method}: torch {torch.__version__}, {args.threads} threads, CPU, median of {args.steps} steps")
    print(f"{'size':>5} {'batch':>5} {'s/it (wall)':>12} {'s/it (CPU)':>11} {'it/s':>7}  350k iterations")
    timed: dict[int, tuple[int, float]] = {}
    for size, batch in map(_pair, args.configs.split(",")):
        wall, cpu = seconds_per_iteration(args.method, size, batch, args.steps)
        timed[size] = (batch, wall)
        print(f"{size:>5} {batch:>5} {wall:>12.3f} {cpu:>11.3f} {1 / wall:>7.3f}  {_days(wall)}")
    size, batch = _pair(args.project)
    if size in timed and timed[size][0] != batch:
        base_batch, wall = timed[size]
        projected = wall * batch / base_batch
        print(f"{size:>5} {batch:>5} {projected:>12.3f} {'-':>11} {1 / projected:>7.3f}  {_days(projected)}"
              f"  (projected from batch {base_batch}, not timed)")


if __name__ == "__main__":
    main()
