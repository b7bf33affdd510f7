"""Pure metric functions of the ``paper`` and ``hole`` profiles (see harness.metrics.registry).

The "paper" convention is the official MISF test code (src/misf.py ``metric``): the composite
and the ground truth, clamped to [0,1], are multiplied by 255 in float32 and cast to uint8,
which truncates; PSNR and SSIM use scikit-image on those uint8 arrays; L1 and LPIPS use the
clamped float images. Functions taking ``views`` (harness.metrics.scoring.Views) are the
implementations the registry names; the others are their per-image building blocks.
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


def truncate_uint8(composite_images: torch.Tensor, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The paper's quantisation step: both images to uint8 [B,H,W,3] by truncation."""
    return to_uint8_truncated(composite_images), to_uint8_truncated(truth)


def psnr(ground_truth: np.ndarray, prediction: np.ndarray, cap: float = PSNR_CAP) -> float:
    """skimage PSNR on uint8 HxWx3 (data_range 255 from the dtype), whole image, capped."""
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(ground_truth, prediction, data_range=255)
    return float(min(cap, value))


def ssim(ground_truth: np.ndarray, prediction: np.ndarray) -> float:
    """skimage SSIM with its defaults (7x7 uniform window, sample covariance), RGB mean."""
    return float(structural_similarity(ground_truth, prediction, channel_axis=-1, data_range=255))


def psnr_uint8(views) -> list[float]:
    pre, gt = views.quantised
    return [psnr(g, p) for g, p in zip(gt, pre)]


def ssim_uint8(views) -> list[float]:
    pre, gt = views.quantised
    return [ssim(g, p) for g, p in zip(gt, pre)]


def l1_percent(views) -> list[float]:
    """Per-image mean absolute error over all 3xHxW values in [0,1], times 100."""
    return ((views.composite - views.truth).abs().flatten(1).mean(1) * 100).tolist()


def psnr_hole_uint8(views) -> list[float]:
    """PSNR over the hole pixels (all channels) of the uint8 composite; capped like the whole-image one."""
    pre, gt = views.quantised
    values = []
    for g, p, mask in zip(gt, pre, views.masks[:, 0].cpu().numpy() > 0.5):
        diff = g[mask].astype(np.float64) - p[mask].astype(np.float64)
        mse = float(np.mean(diff**2)) if diff.size else 0.0
        values.append(PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(255.0**2 / mse)))
    return values


def l1_hole_percent(views) -> list[float]:
    """Mean absolute error over the hole pixels (all channels) of the float composite, x100."""
    holes = views.masks.expand_as(views.composite) > 0.5
    error = (views.composite - views.truth).abs() * holes
    return (error.flatten(1).sum(1) / holes.flatten(1).sum(1).clamp(min=1) * 100).tolist()


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
