"""Time and peak memory of MISF's per-pixel filtering: tap-by-tap op vs the official stacked form.

Both levels of a 256x256 input: image (C=3 at 256x256, 27 kernel channels) and feature
(C=256 at 64x64, 576 raw kernel channels expanded x4). The reference includes the official
expansion to 2304 channels, as the official code runs it. Peak memory is the high-water mark of
torch's CPU allocations during one call (torch.profiler memory events), above what already
existed (inputs). Everything runs in one process so the ratios compare like with like.

    python benchmarks/filtering_bench.py [--batch 8] [--size 256] [--repeats 5] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from misf.filtering import expand_kernels, pixel_filter, reference_filter


def peak_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Peak of live CPU tensor bytes allocated while ``fn`` runs (its output included)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    kineto_events = prof.profiler.kineto_results.events()
    events = sorted((e.start_ns(), e.nbytes()) for e in kineto_events if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def seconds(fn: Callable[[], torch.Tensor], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cases(batch: int, size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    generator = torch.Generator().manual_seed(0)
    feature = size // 4
    return {
        f"image   C=3   {size}x{size}": (
            torch.rand(batch, 3, size, size, generator=generator),
            torch.randn(batch, 27, size, size, generator=generator),
            1,
        ),
        f"feature C=256 {feature}x{feature}": (
            torch.rand(batch, 256, feature, feature, generator=generator),
            torch.randn(batch, 576, feature, feature, generator=generator),
            4,
        ),
    }


def runners(x: torch.Tensor, raw: torch.Tensor, repeat: int, backward: bool) -> dict[str, Callable[[], torch.Tensor]]:
    grad = torch.ones_like(x)

    def wrap(op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[], torch.Tensor]:
        if not backward:
            return lambda: op(x, raw)

        def forward_backward() -> torch.Tensor:
            xs, ks = x.detach().requires_grad_(), raw.detach().requires_grad_()
            out = op(xs, ks)
            out.backward(grad)
            return out

        return forward_backward

    return {
        "ours": wrap(lambda a, k: pixel_filter(a, k, repeat)),
        "reference": wrap(lambda a, k: reference_filter(a, expand_kernels(k, repeat))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, input {args.size}x{args.size}")
    header = ("case", "pass", "ours s", "ref s", "speed-up", "ours MiB", "ref MiB", "mem ratio")
    print("{:<24}{:<18}{:>9}{:>9}{:>10}{:>10}{:>10}{:>11}".format(*header))
    for name, (x, raw, repeat) in cases(args.batch, args.size).items():
        torch.testing.assert_close(pixel_filter(x, raw, repeat), reference_filter(x, expand_kernels(raw, repeat)))
        for backward in (False, True):
            run = runners(x, raw, repeat, backward)
            with torch.set_grad_enabled(backward):
                time_ours, time_ref = (seconds(run[key], args.repeats) for key in ("ours", "reference"))
                mem_ours, mem_ref = (peak_bytes(run[key]) / 2**20 for key in ("ours", "reference"))
            label = "forward+backward" if backward else "forward"
            print(
                f"{name:<24}{label:<18}{time_ours:>9.4f}{time_ref:>9.4f}{time_ref / time_ours:>9.1f}x"
                f"{mem_ours:>10.1f}{mem_ref:>10.1f}{mem_ref / mem_ours:>10.1f}x"
            )


if __name__ == "__main__":
    main()
