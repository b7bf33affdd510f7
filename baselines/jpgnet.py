"""JPGNet (Guo et al. 2021) as a harness predictor, following edge_kpn_fusion's ``fusion_test``.

The dataset code reads uint8 images resized to 256² and thresholds the mask with ``> 0``
(``MASK_THRESHOLD: 0``). Edges are Canny (σ = 2) of ``rgb2gray`` of the uint8 image with
``mask=valid``, as EdgeConnect's, so hole contents never matter. ``get_uncertainty`` hard-codes
256×256, hence the fixed native size. The official loader keeps random weights for a missing
KPN file and silently drops unknown keys; here all four files are required and load strictly.
Upstream's output is unclamped (its saved files clip); the predictor clamps to [0,1].
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from baselines.edgeconnect import OFFICIAL_SIGMA, gray_and_edges
from baselines.jpgnet_networks import JPGNet
from baselines.weights import JPGNET_DATASETS, jpgnet_dir, jpgnet_weights
from harness.checkpoints import load_state_dict, load_strict, resolve_folder
from harness.predictor import SizeSpec, TorchPredictor

#: INPUT_SIZE of edge_kpn_fusion's config and the H, W that get_uncertainty hard-codes.
OFFICIAL_SIZE = 256


class JPGNetPredictor(TorchPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "jpgnet"
    size = SizeSpec(native=OFFICIAL_SIZE)

    def __init__(self, model: JPGNet, weight_files: tuple[Path, ...] = (), dataset: str | None = None, device: Any = None):
        super().__init__(model, device)
        self.weight_files = weight_files
        self.dataset = dataset

    def config(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "sigma": OFFICIAL_SIGMA,
            "edges": "skimage canny of rgb2gray(uint8), mask=valid",
            "mask_threshold": "> 0",
            "uncertainty": "min-max per image (upstream: per batch, run at batch 1)",
            "output": "clamped to [0,1]",
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"JPGNet runs at {OFFICIAL_SIZE}x{OFFICIAL_SIZE} only, got {tuple(images.shape[-2:])}")
        holes = (masks > 0).float()
        gray, edges = gray_and_edges(images, holes, OFFICIAL_SIGMA, uint8=True)
        out = self.module(*(t.to(self.device, torch.float32) for t in (images, gray, edges, holes)))
        return out.clamp(0, 1).to(images.device)


def jpgnet(checkpoint: str | os.PathLike | None = None, device: Any = None, dataset: str = "places2") -> JPGNetPredictor:
    """Load the four official files of one dataset from a folder.

    ``checkpoint`` defaults to ``$HARNESS_WEIGHTS/jpgnet/<dataset>``; with an explicit folder
    any evaluation dataset goes (the name then only labels messages).
    """
    info = jpgnet_weights(dataset if dataset in JPGNET_DATASETS or checkpoint is None else JPGNET_DATASETS[1])
    edge, inpaint, kpn1, kpn2 = resolve_folder(checkpoint, jpgnet_dir(dataset), info, "JPGNet")
    model = JPGNet()
    load_strict(model.edgeconnect.edge_generator, load_state_dict(edge, key="generator"), edge, "JPGNet edge generator")
    load_strict(model.edgeconnect.inpaint_generator, load_state_dict(inpaint, key="generator"), inpaint,
                "JPGNet EdgeConnect inpainting generator")
    load_strict(model.kpn1, load_state_dict(kpn1), kpn1, "JPGNet KPN1")
    load_strict(model.kpn2, load_state_dict(kpn2), kpn2, "JPGNet KPN2")
    return JPGNetPredictor(model, (edge, inpaint, kpn1, kpn2), dataset, device)


def random_predictor(device: Any = None) -> JPGNetPredictor:
    """JPGNet with its initial random weights, for timing and shape checks."""
    return JPGNetPredictor(JPGNet(), device=device)
