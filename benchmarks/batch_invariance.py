"""How far float32 CPU kernels move a network's output between batch sizes.

The tests ``test_batch_of_two_equals_two_batches_of_one`` (jpgnet, lama, pconv, rfrnet,
structureflow) compare a batch of two with two batches of one. The two are not bitwise equal
on CPU: convolution and matmul kernels block and reduce differently for another batch size (and
thread count), so float32 sums come out in another order. This script measures that spread
for each model exactly as its test calls it (same random official-format weights, same input
size), over many random inputs and several thread counts, so the tests' tolerances come from
a measurement:

    python -m benchmarks.batch_invariance [--seeds 20] [--threads 1,2] [--models jpgnet,lama] [--isas native,AVX2,SSE41]

The kernels also differ by instruction set: each ``--isas`` entry other than ``native`` reruns
the measurement in a child process limited to it (``ONEDNN_MAX_CPU_ISA`` for oneDNN's
convolutions, ``ATEN_CPU_CAPABILITY`` for ATen's kernels), so one AVX-512 machine also shows
what an AVX2 or SSE4.1 machine computes. Per model, ISA and thread count it prints the
distribution of max |batch - singles| over the inputs (median, 95th percentile, max) and the
same relative to the largest |output|.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the tests: no spinning on a busy machine
import torch  # noqa: E402

Pair = Callable[[int], tuple[torch.Tensor, torch.Tensor]]  # seed -> (batch of two, two singles)


def _masks(generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    """Item 0: a random rectangle; item 1: random speckles (as the tests' samples)."""
    masks = torch.zeros(2, 1, height, width)
    top, left = (int(torch.randint(0, n // 2, (1,), generator=generator)) for n in (height, width))
    masks[0, :, top : top + height // 3, left : left + width // 2] = 1
    masks[1] = (torch.rand(1, height, width, generator=generator) > 0.7).float()
    return masks


def _images(generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    return torch.round(torch.rand(2, 3, height, width, generator=generator) * 255) / 255


def _jpgnet(tmp: Path) -> Pair:
    from baselines.edgeconnect import gray_and_edges
    from harness.registry import load_predictor
    from tests.test_jpgnet import official_files

    official_files(tmp / "jpgnet")
    model = load_predictor("jpgnet", checkpoint=str(tmp / "jpgnet")).module

    def pair(seed: int):
        g = torch.Generator().manual_seed(seed)
        masks = _masks(g, 64, 64)
        images = _images(g, 64, 64) * (1 - masks)
        gray, edges = gray_and_edges(images, masks, sigma=2.0, uint8=True)
        batch = model(images, gray, edges, masks)
        singles = torch.cat([model(*(t[i : i + 1] for t in (images, gray, edges, masks))) for i in range(2)])
        return batch, singles

    return pair


def _lama(tmp: Path) -> Pair:
    from baselines.lama import LamaPredictor
    from baselines.lama_networks import FFCResNetGenerator
    from tests.state_dicts import random_state
    from tests.test_lama import official_generator_keys

    module = FFCResNetGenerator()
    state = random_state(official_generator_keys())
    module.load_state_dict({k.removeprefix("generator."): v for k, v in state.items()}, strict=True)
    predictor = LamaPredictor(module.eval())
    return _predict_pair(predictor, 24, 40)


def _pconv(tmp: Path) -> Pair:
    from harness.registry import load_predictor
    from tests.state_dicts import random_state
    from tests.test_pconv import PLACES_FILE, official_keys

    state = random_state(official_keys(), gain=2.0)
    state |= {k: torch.ones(v.shape) for k, v in state.items() if k.endswith("weight_mask_updater")}
    torch.save({"meta": {}, "state_dict": state}, tmp / PLACES_FILE)
    return _predict_pair(load_predictor("pconv", checkpoint=str(tmp / PLACES_FILE)), 128, 128)


def _rfrnet(tmp: Path) -> Pair:
    from harness.registry import load_predictor
    from tests.state_dicts import random_state
    from tests.test_rfrnet import official_keys

    torch.save({"n_iter": 1, "generator": random_state(official_keys(), gain=2.0)}, tmp / "checkpoint_celeba.pth")
    module = load_predictor("rfrnet", checkpoint=str(tmp / "checkpoint_celeba.pth"), target_size=None).module

    def pair(seed: int):
        g = torch.Generator().manual_seed(seed)
        images = torch.rand(2, 3, 32, 48, generator=g)
        valid = (1 - _masks(g, 32, 48)).expand(-1, 3, -1, -1)
        batch = module(images * valid, valid)
        singles = torch.cat([module(images[i : i + 1] * valid[i : i + 1], valid[i : i + 1]) for i in range(2)])
        return batch, singles

    return pair


def _structureflow(tmp: Path) -> Pair:
    from harness.registry import load_predictor
    from tests.test_structureflow import write_official_files

    write_official_files(tmp / "structureflow")
    predictor = load_predictor("structureflow", checkpoint=str(tmp / "structureflow"), device="cpu")

    def pair(seed: int):
        g = torch.Generator().manual_seed(seed)
        truth = _images(g, 48, 48)
        masks = _masks(g, 48, 48)
        images = truth * (1 - masks)
        batch = predictor.predict(images, masks, ground_truth=truth)
        singles = torch.cat([predictor.predict(images[i : i + 1], masks[i : i + 1], ground_truth=truth[i : i + 1])
                             for i in range(2)])
        return batch, singles

    return pair


def _predict_pair(predictor, height: int, width: int) -> Pair:
    def pair(seed: int):
        g = torch.Generator().manual_seed(seed)
        masks = _masks(g, height, width)
        images = _images(g, height, width) * (1 - masks)
        batch = predictor.predict(images, masks)
        singles = torch.cat([predictor.predict(images[i : i + 1], masks[i : i + 1]) for i in range(2)])
        return batch, singles

    return pair


MODELS = {"jpgnet": _jpgnet, "lama": _lama, "pconv": _pconv, "rfrnet": _rfrnet, "structureflow": _structureflow}


def measure(pair: Pair, seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """max |batch - singles| per input, and the same divided by the largest |output|."""
    absolute, relative = [], []
    with torch.inference_mode():
        for seed in range(seeds):
            batch, singles = pair(seed)
            diff = float((batch - singles).abs().max())
            absolute.append(diff)
            relative.append(diff / float(singles.abs().max()))
    return np.array(absolute), np.array(relative)


#: oneDNN's ISA cap -> the ATen capability of the same width.
ATEN_CAPABILITY = {"AVX512_CORE": "avx512", "AVX2": "avx2", "SSE41": "default"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--isas", default="native", help="native and/or " + ", ".join(ATEN_CAPABILITY))
    args = parser.parse_args()
    for isa in args.isas.split(","):
        if isa != "native":
            env = os.environ | {"ONEDNN_MAX_CPU_ISA": isa, "ATEN_CPU_CAPABILITY": ATEN_CAPABILITY[isa]}
            rest = ["--seeds", str(args.seeds), "--threads", args.threads, "--models", args.models]
            subprocess.run([sys.executable, "-m", "benchmarks.batch_invariance", *rest], env=env, check=True)
            continue
        _measure_all(args)


def _measure_all(args: argparse.Namespace) -> None:
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "native")
    print(f"torch {torch.__version__}, ISA {isa} (ATen {torch.backends.cpu.get_cpu_capability()}), "
          f"{args.seeds} random inputs each", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            folder = Path(tmp) / name
            folder.mkdir()
            pair = MODELS[name](folder)
            for threads in (int(t) for t in args.threads.split(",")):
                torch.set_num_threads(threads)
                absolute, relative = measure(pair, args.seeds)
                print(f"{name:14s} {isa:11s} threads {threads}: max|diff| median {np.median(absolute):.2e}  "
                      f"p95 {np.percentile(absolute, 95):.2e}  max {absolute.max():.2e}  "
                      f"bitwise equal {np.mean(absolute == 0):4.0%}; relative to max|out|: "
                      f"median {np.median(relative):.2e}  max {relative.max():.2e}", flush=True)


if __name__ == "__main__":
    main()
