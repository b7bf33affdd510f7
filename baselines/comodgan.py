"""Co-Mod-GAN (Zhao et al., ICLR 2021) through MI-GAN's torch port, as a harness predictor.

Inputs and outputs follow MI-GAN's ``scripts/evaluate_fid_lpips.py`` exactly as for MI-GAN
(baselines/migan.py). The port is random (a latent z and per-layer noise maps are drawn inside
its forward) and normalises styles over the batch, so the official evaluation is neither
reproducible nor independent of batching. The harness's rule (docs/comodgan.md): every item
is its own forward, preceded by ``torch.manual_seed(seed)``, in eval mode, with the port's
default truncation (none) and the chosen ``noise_mode``. An item's prediction is then a
function of the item, the seed and the device's random generator only.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from baselines.comodgan_networks import NOISE_MODES, CoModGANGenerator
from baselines.migan import FourChannelGANPredictor, load_generator
from baselines.weights import comodgan_weights

#: The seed ``evaluate_fid_lpips.py`` gives numpy (it never seeds torch).
DEFAULT_SEED = 0


class CoModGANPredictor(FourChannelGANPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "comodgan"

    def __init__(self, model: torch.nn.Module, weight_files: tuple[Path, ...] = (), device: Any = None,
                 seed: int = DEFAULT_SEED, noise_mode: str = "random"):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        super().__init__(model, weight_files, device)
        self.seed, self.noise_mode = int(seed), noise_mode

    def config(self) -> dict[str, Any]:
        return {
            "model": "co-mod-gan (MI-GAN torch port)",
            **super().config(),
            "seed": self.seed,
            "noise_mode": self.noise_mode,
            "randomness": "torch.manual_seed(seed) before each one-item forward; z and noise drawn inside",
            "truncation_psi": 1,
        }

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        """One forward per item, each after reseeding; the caller's random state is left as it was."""
        devices = [self.device] if self.device.type == "cuda" else []
        outputs = []
        for item in x.split(1):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                outputs.append(self.module(item, noise_mode=self.noise_mode))
        return torch.cat(outputs)


def comodgan(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "places2",
    resolution: int | None = None,
    seed: int = DEFAULT_SEED,
    noise_mode: str = "random",
) -> CoModGANPredictor:
    """Load a released ``comodgan_{256,512}_{places2,ffhq}.pt`` (MI-GAN's port, a plain state dict)."""
    model, path = load_generator("comodgan", CoModGANGenerator, comodgan_weights, checkpoint, dataset, resolution)
    return CoModGANPredictor(model, (path,), device, seed=seed, noise_mode=noise_mode)


def random_predictor(device: Any = None, resolution: int = 256) -> CoModGANPredictor:
    """The Co-Mod-GAN port with random weights, for timing and shape checks (marked untrained)."""
    predictor = CoModGANPredictor(CoModGANGenerator(resolution), device=device)
    predictor.untrained = True
    return predictor
