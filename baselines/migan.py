"""MI-GAN (Sargsyan et al., ICCV 2023) as a harness predictor, following ``scripts/evaluate_fid_lpips.py``.

The official evaluation path, shared with the Co-Mod-GAN port (baselines/comodgan.py; details
in docs/migan.md): image in [-1,1]; mask 1 = known (only pixels equal to 255 are known, so any
hole contribution makes a hole); the network sees ``cat(known - 0.5, image * known)``; its
output is composited with the known pixels and mapped by ``clamp(out * 0.5 + 0.5, 0, 1)``. The
harness composites itself, so the prediction is the mapped raw output, before any uint8 step.
The model runs only at its own resolution, which comes from the checkpoint's keys.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import torch

from baselines.migan_networks import MIGANGenerator
from baselines.weights import migan_weights, picsart_dir
from harness.checkpoints import CheckpointError, WeightsInfo, load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import SizeSpec, TorchPredictor

_SYNTHESIS_BLOCK = re.compile(r"^synthesis\.b(\d+)\.")


def network_input(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``cat(known - 0.5, image_in_[-1,1] * known)`` from harness inputs (image in [0,1], mask 1 = hole).

    Multiplying by ``known`` after the mapping to [-1,1] matters: the harness's zeroed holes
    would otherwise enter as -1.
    """
    known = (masks <= 0).to(images.dtype)
    return torch.cat([known - 0.5, (images * 2 - 1) * known], dim=1)


def to_unit_range(out: torch.Tensor) -> torch.Tensor:
    return (out * 0.5 + 0.5).clamp(0, 1)


class FourChannelGANPredictor(TorchPredictor):
    """The input and output conventions MI-GAN's evaluation script applies to MI-GAN and Co-Mod-GAN."""

    def __init__(self, model: torch.nn.Module, weight_files: tuple[Path, ...] = (), device: Any = None):
        super().__init__(model, device)
        self.weight_files = weight_files
        self.size = SizeSpec(native=model.resolution)

    def config(self) -> dict[str, Any]:
        return {
            "resolution": self.module.resolution,
            "mask": "known = mask <= 0",
            "input": "cat(known - 0.5, (2 * image - 1) * known)",
            "output": "clamp(out * 0.5 + 0.5, 0, 1), float",
        }

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.size.accepts(*images.shape[-2:]):
            side = self.module.resolution
            raise ValueError(f"{self.name} runs at {side}x{side} only (its weights fix the size), got {tuple(images.shape[-2:])}")
        x = network_input(images.to(self.device, torch.float32), masks.to(self.device, torch.float32))
        return to_unit_range(self.generate(x)).to(images.device)


class MIGANPredictor(FourChannelGANPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "migan"

    def config(self) -> dict[str, Any]:
        return {"model": "mi-gan", **super().config()}


def resolution_from_keys(state: dict[str, torch.Tensor], path: Path | str, what: str) -> int:
    """The highest ``synthesis.b{R}`` of a state dict: the resolution the network was built for."""
    levels = [int(m[1]) for key in state if (m := _SYNTHESIS_BLOCK.match(key))]
    if not levels:
        raise CheckpointError(f"{path} is not a {what} checkpoint: no synthesis.b<resolution>.* keys")
    return max(levels)


def load_generator(
    method: str,
    build: Callable[[int], torch.nn.Module],
    weights: Callable[[str, int], WeightsInfo],
    checkpoint: str | os.PathLike | None,
    dataset: str,
    resolution: int | None,
) -> tuple[torch.nn.Module, Path]:
    """Resolve a released ``.pt`` (a plain state dict), build the network its keys describe, load strictly.

    ``dataset`` and ``resolution`` pick the file name in a folder (default ``$HARNESS_WEIGHTS/<method>``);
    the network's size always comes from the file, and an explicit ``resolution`` must agree with it.
    """
    info = weights(dataset, resolution or 256)
    path = resolve_checkpoint(picsart_dir(method) / info.file_names[0] if checkpoint is None else checkpoint, info)
    state = load_state_dict(path)
    found = resolution_from_keys(state, path, info.method)
    if resolution is not None and resolution != found:
        raise CheckpointError(f"{path} holds a {found}x{found} {method} model, but resolution={resolution} was asked for")
    model = build(found)
    load_strict(model, state, path, f"{method} {found}x{found}")
    return model, path


def migan(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "places2",
    resolution: int | None = None,
) -> MIGANPredictor:
    """Load a released ``migan_{256,512}_{places2,ffhq}.pt``; MI-GAN is deterministic, so it takes no seed."""
    model, path = load_generator("migan", MIGANGenerator, migan_weights, checkpoint, dataset, resolution)
    return MIGANPredictor(model, (path,), device)


def random_predictor(device: Any = None, resolution: int = 256) -> MIGANPredictor:
    """MI-GAN with random weights, for timing and shape checks (marked untrained)."""
    predictor = MIGANPredictor(MIGANGenerator(resolution), device=device)
    predictor.untrained = True
    return predictor
