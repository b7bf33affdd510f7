"""Classical inpainting methods that need no weights: OpenCV's Telea and Navier-Stokes, and
scikit-image's biharmonic. They run per image on uint8 (OpenCV) or float (scikit-image) arrays."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from harness.predictor import Predictor


class PerImagePredictor(Predictor):
    """Applies ``fill(image_hwc_float, hole_bool) -> image_hwc_float`` to each item of a batch."""

    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    def __init__(self, name: str, fill: Callable[[np.ndarray, np.ndarray], np.ndarray], settings: dict[str, Any]):
        self.name = name
        self._fill = fill
        self._settings = settings

    def config(self) -> dict[str, Any]:
        return dict(self._settings)

    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        out = []
        for image, mask in zip(images, masks):
            hwc = image.permute(1, 2, 0).cpu().numpy().astype(np.float64)
            hole = mask[0].cpu().numpy() > 0.5
            filled = self._fill(hwc, hole) if hole.any() else hwc
            out.append(torch.from_numpy(np.clip(filled, 0, 1)).permute(2, 0, 1).float())
        return torch.stack(out).to(images.device)


def _opencv(flag_name: str, radius: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import cv2

    flag = getattr(cv2, flag_name)

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        u8 = np.round(image * 255).astype(np.uint8)
        return cv2.inpaint(u8, hole.astype(np.uint8) * 255, radius, flag).astype(np.float64) / 255.0

    return fill


def telea(checkpoint: str | None = None, device: Any = None, radius: int = 3) -> Predictor:
    return PerImagePredictor("telea", _opencv("INPAINT_TELEA", radius), {"radius": radius, "input": "uint8 rounded"})


def navier_stokes(checkpoint: str | None = None, device: Any = None, radius: int = 3) -> Predictor:
    return PerImagePredictor("navier-stokes", _opencv("INPAINT_NS", radius), {"radius": radius, "input": "uint8 rounded"})


def biharmonic(checkpoint: str | None = None, device: Any = None) -> Predictor:
    from skimage.restoration import inpaint_biharmonic

    def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return inpaint_biharmonic(image, hole, channel_axis=-1)

    return PerImagePredictor("biharmonic", fill, {"channel_axis": -1})
