"""Pure metric functions of the ``paper`` and ``hole`` profiles (see harness.metrics.registry).

The "paper" convention is the official MISF test code (src/misf.py ``metric``): the composite
and the ground truth, clamped to [0,1], are multiplied by 255 in float32 and cast to uint8,
which truncates; PSNR and SSIM use scikit-image on those uint8 arrays; L1 and LPIPS use the
clamped float images. Functions taking ``views`` (harness.metrics.scoring.Views) are the
implementations the registry names; the others are their per-image building blocks.

PSNR and SSIM exist twice: scikit-image itself (the reference, run when metrics are put on the
CPU explicitly) and the same formulas in torch float64 on the run's device, equal to 1e-10.
scikit-image's SSIM with its defaults is a 7x7 uniform filter, sample covariance N/(N-1),
K1 0.01, K2 0.03, then the mean over the map cropped by 3 pixels per side; inside that crop the
filter never reaches the image border, so unpadded 7x7 window means give the same map.
"""
from __future__ import annotations

import numpy as np
import torch

PSNR_CAP = 100.0


def composite(prediction: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred * mask + image * (1 - mask)`` with mask 1 = hole (what every codebase scores)."""
    return prediction * mask + image * (1 - mask)


def truncated(images: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] float in [0,1] → uint8 [B,3,H,W] by ``clamp(0,1) * 255`` in float32, then truncation (MISF)."""
    return (images.detach().to(torch.float32).clamp(0, 1) * 255).to(torch.uint8)


def _hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).cpu().numpy()


def to_uint8_truncated(images: torch.Tensor) -> np.ndarray:
    """:func:`truncated` as numpy uint8 [B,H,W,3]."""
    return _hwc(truncated(images))


def truncate_uint8(composite_images: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's quantisation step: both images truncated to uint8 [B,3,H,W] on their device."""
    return truncated(composite_images), truncated(truth)


def psnr(ground_truth: np.ndarray, prediction: np.ndarray, cap: float = PSNR_CAP) -> float:
    """skimage PSNR on uint8 HxWx3 (data_range 255 from the dtype), whole image, capped."""
    from skimage.metrics import peak_signal_noise_ratio  # with scipy: only for the CPU reference

    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(ground_truth, prediction, data_range=255)
    return float(min(cap, value))


def ssim(ground_truth: np.ndarray, prediction: np.ndarray) -> float:
    """skimage SSIM with its defaults (7x7 uniform window, sample covariance), RGB mean."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(ground_truth, prediction, channel_axis=-1, data_range=255))


def psnr_uint8(views) -> list[float]:
    """scikit-image PSNR of each uint8 pair (the reference; CPU)."""
    pre, gt = (_hwc(x) for x in views.quantised)
    return [psnr(g, p) for g, p in zip(gt, pre)]


def ssim_uint8(views) -> list[float]:
    """scikit-image SSIM of each uint8 pair (the reference; CPU)."""
    pre, gt = (_hwc(x) for x in views.quantised)
    return [ssim(g, p) for g, p in zip(gt, pre)]


def psnr_torch(views) -> list[float]:
    """scikit-image's PSNR in torch float64 on the images' device: 10 log10(255^2 / MSE), capped."""
    pre, gt = (x.to(torch.float64) for x in views.quantised)
    mse = (gt - pre).pow(2).flatten(1).mean(1)
    values = 10 * torch.log10(255.0**2 / mse)
    return torch.where(mse == 0, torch.full_like(values, PSNR_CAP), values.clamp(max=PSNR_CAP)).tolist()


def window_sums(images: torch.Tensor, size: int = 7) -> torch.Tensor:
    """Sums over every ``size``x``size`` window lying inside [..., H, W] (the positions scikit-image's
    SSIM keeps after its crop), from cumulative sums. For integer-valued float64 input they are
    exact while the image's total stays below 2^53 (any uint8 image, squared, under ~1e11 pixels)."""
    total = torch.nn.functional.pad(images.cumsum(-2).cumsum(-1), (1, 0, 1, 0))
    return total[..., size:, size:] - total[..., :-size, size:] - total[..., size:, :-size] + total[..., :-size, :-size]


def ssim_torch(views) -> list[float]:
    """scikit-image's default SSIM (data_range 255, channel mean) in torch float64 on the images' device.

    The five window means come from exact integer window sums, not from a filter: as precise as
    scikit-image's reflect-padded uniform filter and, on a CPU, several times faster than it."""
    x, y = (t.to(torch.float64) for t in views.quantised)
    n, c1, c2 = 49.0, (0.01 * 255) ** 2, (0.03 * 255) ** 2
    sx, sy, sxx, syy, sxy = window_sums(torch.cat((x, y, x * x, y * y, x * y), 1)).split(x.shape[1], 1)
    ux, uy = sx / n, sy / n
    # sample covariances: (Σab − Σa·Σb/n) / (n − 1)
    vx, vy, vxy = (sxx - sx * ux) / (n - 1), (syy - sy * uy) / (n - 1), (sxy - sx * uy) / (n - 1)
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return (item_sums(ssim_map) / ssim_map[0].numel()).tolist()


#: Values summed per chunk by :func:`item_sums`' first stage.
CHUNK = 256


def item_sums(values: torch.Tensor) -> torch.Tensor:
    """Per-item sums of ``values`` [B, ...] in an order that does not depend on torch's thread count.

    A plain ``sum`` over one large item splits it among the threads when there are fewer
    outputs than threads, so one process (16 threads) and torchrun (``OMP_NUM_THREADS=1``) gave
    L1s apart in the last bits. Here every chunk of 256 values is summed by one thread (there are
    far more chunks than threads), then each item's few chunk sums, below torch's parallel grain.
    """
    flat = values.flatten(1)
    chunks = torch.nn.functional.pad(flat, (0, -flat.shape[1] % CHUNK)).view(len(flat), -1, CHUNK).sum(2)
    return torch.stack([row.sum() for row in chunks]) if len(chunks) else chunks.sum(1)


def l1_percent(views) -> list[float]:
    """Per-image mean absolute error over all 3xHxW values in [0,1], times 100."""
    error = (views.composite - views.truth).abs()
    return (item_sums(error) / error[0].numel() * 100).tolist()


def psnr_hole_uint8(views) -> list[float]:
    """PSNR over the hole pixels (all channels) of the uint8 composite; capped like the whole-image one."""
    pre, gt = (_hwc(x) for x in views.quantised)
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
    return (item_sums(error) / holes.flatten(1).sum(1).clamp(min=1) * 100).tolist()


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
