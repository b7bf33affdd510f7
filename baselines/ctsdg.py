"""CTSDG (Guo, Yang, Huang, ICCV 2021) as a harness predictor, following the official test path.

The official dataset (``datasets/dataset.py``, ``utils/canny.py``) computes the grayscale image
and the Canny edges (sigma 2) from the **full ground truth**, after normalising it to [-1,1] and
converting it with ``ToPILImage``: ``x.mul(255).byte()`` wraps negative values modulo 256
(-1 -> 1, -0.5 -> 129). The released weights were trained on those wrapped images, so the
wrap is reproduced here, not fixed. The network then sees ``gt * m``, ``cat(edge * m,
gray * m)`` and ``m`` with m = 1 on valid pixels (the mask file is thresholded ``>= 0.5`` and
inverted). Since the edges read the ground truth inside the holes, the predictor declares
``reads_ground_truth``; ``images`` only supplies the shape and the output device.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.color import rgb2gray
from skimage.feature import canny

from baselines.ctsdg_networks import CTSDGGenerator
from baselines.weights import ctsdg_dir, ctsdg_weights, weights_dataset
from harness.checkpoints import load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import SizeSpec, TorchPredictor

#: ``--sigma`` default of the official test options.
OFFICIAL_SIGMA = 2.0


def wrap_to_uint8(normalised: torch.Tensor) -> torch.Tensor:
    """What ``ToPILImage`` makes of a [-1,1] float tensor: ``trunc(x * 255) mod 256`` as uint8.

    Written out rather than relying on ``.byte()``, whose float-to-uint8 conversion of
    negative values is undefined in C and only happens to wrap on x86 CPUs.
    """
    return torch.remainder(torch.trunc(normalised.float() * 255).to(torch.int64), 256).to(torch.uint8)


def gray_and_edges(normalised: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Official ``image_to_edge`` per image: grayscale in [0,1] and Canny edges {0,1} of the wrapped image."""
    grays, edges = [], []
    for wrapped in wrap_to_uint8(normalised).permute(0, 2, 3, 1).cpu().numpy():
        gray = rgb2gray(wrapped)
        grays.append(gray)
        edges.append(canny(gray, sigma=sigma))
    # float32, as ToTensor of the float64 PIL 'F' gray and of the bool edge image give
    return torch.from_numpy(np.stack(grays)[:, None]).float(), torch.from_numpy(np.stack(edges)[:, None]).float()


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0,1] -> [-1,1] as torchvision ``Normalize((0.5,)*3, (0.5,)*3)`` computes it (float32)."""
    return (images.float() - 0.5) / 0.5


class CTSDGPredictor(TorchPredictor):
    """Batched generator; grayscale and Canny run per image on CPU from ``ground_truth``."""

    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "ctsdg"
    size = SizeSpec(native=256)
    reads_ground_truth = True

    def __init__(
        self, generator: CTSDGGenerator, weight_files: tuple[Path, ...] = (), sigma: float = OFFICIAL_SIGMA, device: Any = None
    ):
        super().__init__(generator, device)
        self.weight_files = weight_files
        self.sigma = sigma

    def config(self) -> dict[str, Any]:
        return {
            "sigma": self.sigma,
            "edges": "skimage canny of rgb2gray(uint8-wrapped [-1,1] ground truth), whole image",
            "hole_fill": "0 in [-1,1]",
            "mask_threshold": ">= 0.5",
        }

    @torch.no_grad()
    def predict(
        self, images: torch.Tensor, masks: torch.Tensor, *, ground_truth: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if ground_truth is None:
            raise ValueError("CTSDG's official preprocessing computes edges on the full image: pass ground_truth=")
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"CTSDG runs at 256x256 (the official test resizes to it), got {tuple(images.shape[-2:])}")
        valid = (masks < 0.5).float().to(self.device)
        truth = normalise(ground_truth)
        gray, edges = gray_and_edges(truth, self.sigma)
        structure = torch.cat((edges, gray), dim=1).to(self.device) * valid
        # gt * m as upstream, rather than the harness image, whose known pixels next to a hole
        # may have been blended with the zeroed hole when the harness resized it
        out = self.module(truth.to(self.device) * valid, structure, valid)
        return ((out + 1) / 2).clamp(0, 1).to(images.device)


def ctsdg(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "places2",
    sigma: float = OFFICIAL_SIGMA,
) -> CTSDGPredictor:
    """Load the official generator (``torch.load(p)['generator']``) from a .pt file or a folder.

    ``checkpoint`` defaults to ``$HARNESS_WEIGHTS/ctsdg/ctsdg_<dataset>.pt``.
    """
    info = ctsdg_weights(weights_dataset(dataset, checkpoint))
    path = resolve_checkpoint(checkpoint if checkpoint is not None else ctsdg_dir() / info.file_names[0], info)
    generator = CTSDGGenerator()
    load_strict(generator, load_state_dict(path, key="generator"), path, "CTSDG generator")
    return CTSDGPredictor(generator, (path,), sigma=sigma, device=device)


def random_predictor(device: Any = None) -> CTSDGPredictor:
    """CTSDG with its initial random weights, for timing and shape checks."""
    return CTSDGPredictor(CTSDGGenerator(), device=device)
