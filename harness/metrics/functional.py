"""Pure metric functions, each following one named convention (see harness.metrics.profiles).

The "paper" convention is the official MISF test code (src/misf.py ``metric``): the composite
and the ground truth, clamped to [0,1], are multiplied by 255 in float32 and cast to uint8,
which truncates; PSNR and SSIM use scikit-image on those uint8 arrays; L1 and LPIPS use the
clamped float images.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PSNR_CAP = 100.0


def composite(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred * mask + image * (1 - mask)`` with mask 1 = hole (what every codebase scores)."""
    return prediction * mask + image * (1 - mask)


def to_uint8_truncated(images: torch.Tensor) -> np.ndarray:
    """[B,3,H,W] float in [0,1] → uint8 [B,H,W,3] by ``clamp(0,1) * 255`` then truncation (MISF)."""
    scaled = images.detach().to(torch.float32).clamp(0, 1) * 255
    return scaled.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)


def psnr_uint8(ground_truth: np.ndarray, prediction: np.ndarray, cap: float = PSNR_CAP) -> float:
    """skimage PSNR on uint8 HxWx3 (data_range 255 from the dtype), whole image, capped."""
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(ground_truth, prediction, data_range=255)
    return float(min(cap, value))


def ssim_uint8(ground_truth: np.ndarray, prediction: np.ndarray) -> float:
    """skimage SSIM with its defaults (7x7 uniform window, sample covariance), RGB mean."""
    return float(structural_similarity(ground_truth, prediction, channel_axis=-1, data_range=255))


def l1_percent(prediction: torch.Tensor, ground_truth: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error over all 3xHxW values in [0,1], times 100."""
    return (prediction - ground_truth).abs().flatten(1).mean(1) * 100


#: How far outside [0,1] a predicted value may lie and still count as rounding noise.
RANGE_TOLERANCE = 1e-5


def out_of_range(prediction: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of the hole values of one raw prediction [3,H,W] outside [0,1] beyond rounding
    noise: scoring clamps them, and reports count the items where this is not 0."""
    holes = prediction[mask.expand_as(prediction) > 0.5]
    if holes.numel() == 0:
        return 0.0
    outside = (holes < -RANGE_TOLERANCE) | (holes > 1 + RANGE_TOLERANCE)
    return float(outside.float().mean())
