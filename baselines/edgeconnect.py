"""EdgeConnect (Nazeri et al. 2019) as a harness predictor, following the official test path.

Preprocessing as ``src/dataset.py`` in test mode: grayscale by ``skimage.color.rgb2gray``,
edges by ``skimage.feature.canny(gray, sigma=2, mask=valid)``. The ``mask=`` argument makes
Canny ignore hole pixels entirely, so the edges depend only on what a user sees and the
predictor needs no ground truth. The mask file is thresholded with ``> 0`` upstream; the same
threshold is applied to the harness mask (1 = hole).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.color import rgb2gray
from skimage.feature import canny

from baselines.edgeconnect_networks import EdgeConnect
from baselines.weights import edgeconnect_dir, edgeconnect_weights, weights_dataset
from harness.checkpoints import load_state_dict, load_strict, resolve_folder
from harness.predictor import SizeSpec, TorchPredictor

#: SIGMA in the official config.yml.example, used by the released models at test time.
OFFICIAL_SIGMA = 2.0


def gray_and_edges(
    images: torch.Tensor, holes: torch.Tensor, sigma: float, uint8: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grayscale [B,1,H,W] and Canny edges {0,1} [B,1,H,W] of [0,1] RGB images, edges only off holes.

    ``uint8`` rebuilds the decoded uint8 image (round(x·255)) first, as code that calls
    ``rgb2gray`` on the uint8 file does: the float path can differ by an ulp and flip an edge.
    """
    grays, edges = [], []
    for image, hole in zip(images.detach().cpu().double().numpy(), holes.cpu().numpy()):
        hwc = image.transpose(1, 2, 0)
        gray = rgb2gray(np.round(hwc * 255).astype(np.uint8) if uint8 else hwc)
        grays.append(gray)
        edges.append(canny(gray, sigma=sigma, mask=hole[0] == 0))
    # float32, as the official to_tensor of the float64 PIL 'F' gray and of the edge image give
    return torch.from_numpy(np.stack(grays)[:, None]).float(), torch.from_numpy(np.stack(edges)[:, None]).float()


class EdgeConnectPredictor(TorchPredictor):
    """Edge generator then inpainting generator, batched; Canny runs per image on CPU."""

    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "edgeconnect"
    size = SizeSpec(multiple=4)

    def __init__(
        self, model: EdgeConnect, weight_files: tuple[Path, ...] = (), sigma: float = OFFICIAL_SIGMA, device: Any = None
    ):
        super().__init__(model, device)
        self.weight_files = weight_files
        self.sigma = sigma

    def config(self) -> dict[str, Any]:
        return {
            "sigma": self.sigma,
            "edges": "skimage canny of rgb2gray, mask=valid",
            "hole_fill": "white",
            "edge_map_to_inpainter": "raw edge-generator output (official test())",
            "mask_threshold": "> 0",
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"EdgeConnect needs H and W multiples of 4, got {tuple(images.shape[-2:])}")
        holes = (masks > 0).float()
        gray, edges = gray_and_edges(images, holes, self.sigma)
        out = self.module(*(t.to(self.device, torch.float32) for t in (images, gray, edges, holes)))
        return out.to(images.device)


def edgeconnect(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "places2",
    sigma: float = OFFICIAL_SIGMA,
) -> EdgeConnectPredictor:
    """Load the official generators of one dataset from a folder holding both files.

    ``checkpoint`` defaults to ``$HARNESS_WEIGHTS/edgeconnect/<dataset>``.
    """
    info = edgeconnect_weights(weights_dataset(dataset, checkpoint))
    edge_file, inpaint_file = resolve_folder(checkpoint, edgeconnect_dir(dataset), info, "EdgeConnect")
    model = EdgeConnect()
    load_strict(model.edge_generator, load_state_dict(edge_file, key="generator"), edge_file, "EdgeConnect edge generator")
    load_strict(model.inpaint_generator, load_state_dict(inpaint_file, key="generator"), inpaint_file,
                "EdgeConnect inpainting generator")
    return EdgeConnectPredictor(model, (edge_file, inpaint_file), sigma=sigma, device=device)


def random_predictor(device: Any = None) -> EdgeConnectPredictor:
    """EdgeConnect with its initial random weights, for timing and shape checks."""
    return EdgeConnectPredictor(EdgeConnect(), device=device)
