"""The ``mat`` profile: MAT's evaluation (fenglinglwb/MAT ``evaluatoin/``, the folder name is
misspelled upstream), on the composite saved as MAT saves it.

* Quantisation, ``generate_image.py``: the output x in [-1,1] becomes
  ``(x * 127.5 + 127.5).round().clamp(0, 255)`` uint8 (rounded, half to even; the other
  profiles truncate), saved as PNG and read back losslessly; the harness's composite c in
  [0,1] is x = 2c - 1.
* ``cal_psnr_ssim_l1.py``: PSNR in float64 over all pixels and channels, 20 log10(255/√MSE)
  (inf for identical images: capped at 100 like the PSNR column); SSIM with the 11x11 Gaussian
  (σ 1.5) of ``cv2.getGaussianKernel`` through ``cv2.filter2D`` (border REFLECT_101), every map
  cropped by 5 pixels, biased variances, C1 = (0.01·255)², C2 = (0.03·255)², mean of the
  H×W×3 map; L1 = mean |a − b| / 255 in float64 (stored ×100 like the L1 column).
* ``cal_lpips.py``: ``lpips.LPIPS(net='alex')`` (v0.1) on uint8 / 127.5 − 1 in float32.
* ``cal_fid_pids_uids.py``: features of NVIDIA's Inception wrapper (TF1-style bilinear resize by
  an affine grid, (x − 128)/128) at native resolution; FID with 1/N covariances and
  ``scipy.linalg.sqrtm``; P-IDS / U-IDS from ``LinearSVC(dual=False)`` as
  :func:`harness.metrics.setlevel.inception_discriminative_scores`.

The scripts print means of per-image values; the harness records the per-image values, whose
means are the scripts' numbers.

Facts and sources: docs/metrics-mat.md §1-§2.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from harness.metrics.frechet import frechet_distance_low_rank, is_rank_deficient
from harness.metrics.lpips_model import lpips_distance
from harness.metrics.model_files import ModelFiles

WINDOW, SIGMA, CROP = 11, 1.5, 5


def rounded(images: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] in [0,1] → uint8 as MAT saves it: x = 2c − 1, ``(x·127.5 + 127.5).round().clamp(0, 255)``
    in float32 (round half to even)."""
    x = images.detach().to(torch.float32).clamp(0, 1) * 2 - 1
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


def rounded_uint8(composite: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mat quantisation: both images as MAT's saved uint8 PNGs [B,3,H,W], on their device."""
    return rounded(composite), rounded(truth)


def gaussian_window(device: torch.device | str = "cpu") -> torch.Tensor:
    """``np.outer(k, k)`` of ``cv2.getGaussianKernel(11, 1.5)`` (float64 exp taps divided by their sum)."""
    taps = torch.tensor([math.exp(-((i - WINDOW // 2) ** 2) / (2 * SIGMA**2)) for i in range(WINDOW)], dtype=torch.float64)
    taps = taps / taps.sum()
    return torch.outer(taps, taps).to(device)


def ssim(views) -> list[float]:
    """MAT's SSIM in torch float64 on the images' device. Only the map inside the 5-pixel crop is
    kept, where the 11x11 window never reaches the border: unpadded window means give it exactly,
    whatever filter2D's border mode."""
    x, y = (t.to(torch.float64) for t in views.quantised)
    channels = x.shape[1]
    window = gaussian_window(x.device).expand(5 * channels, 1, WINDOW, WINDOW)
    means = torch.nn.functional.conv2d(torch.cat((x, y, x * x, y * y, x * y), 1), window, groups=5 * channels)
    mx, my, mxx, myy, mxy = means.split(channels, 1)
    vx, vy, vxy = mxx - mx**2, myy - my**2, mxy - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim_map = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return ssim_map.flatten(1).mean(1).tolist()


def l1_percent(views) -> list[float]:
    """mean |a − b| / 255 over every pixel and channel of the two uint8 images, float64, ×100."""
    x, y = (t.to(torch.float64) for t in views.quantised)
    return ((x / 255 - y / 255).abs().flatten(1).mean(1) * 100).tolist()


def lpips_alex(device: torch.device | str = "cpu", files: ModelFiles = ModelFiles()):
    """``lpips.LPIPS(net='alex')`` (v0.1, torchvision's AlexNet backbone from its cache) on the two
    uint8 images /127.5 − 1. ``lpips_distance`` maps u/255 by 2x − 1: in float32 that is the same
    number as u/127.5, since doubling is exact. None when the backbone is unavailable offline."""
    distance = lpips_distance("alex", device, files)
    if distance is None:
        return None

    def fn(views) -> list[float]:
        inpainted, truth = (t.to(torch.float32) / 255 for t in views.quantised)
        return distance(inpainted, truth).tolist()  # loss_fn(inpainted, gt)

    return fn


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """MAT's FID: features as float32 (its FeatureStats), statistics in float64 with 1/N covariances
    (Σxxᵀ/N − μμᵀ), ||μ₁ − μ₂||² + Tr(Σ₁ + Σ₂ − 2·sqrtm(Σ₁Σ₂)), real part. With fewer items than
    dimensions, the same trace from the N x N problem (harness.metrics.frechet)."""
    import scipy.linalg

    fake, real = (np.asarray(x, np.float32).astype(np.float64) for x in (fake, real))
    if fake.ndim != 2 or real.ndim != 2 or min(len(fake), len(real)) < 2 or fake.shape[1] != real.shape[1]:
        raise ValueError(f"real and fake must be [N, D] features with N >= 2, got {real.shape} and {fake.shape}")
    if is_rank_deficient(real, fake):
        return frechet_distance_low_rank(fake, real, ddof=0)
    stats = []
    for x in (fake, real):
        mean = x.sum(0) / len(x)
        stats.append((mean, x.T @ x / len(x) - np.outer(mean, mean)))
    (mu1, sigma1), (mu2, sigma2) = stats
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - root * 2)))


def features(device: torch.device | str = "cpu", files: ModelFiles = ModelFiles()):
    """The feature extractor of MAT's scripts: NVIDIA's wrapper around the offline trunk (the file
    of ``files``, else the installed wheel's), on MAT's rounded uint8 composite (:func:`rounded`)
    and uint8 ground truth."""
    from harness.metrics.inception import InceptionFeatures
    from harness.metrics.inception_trunk import PROVENANCE, NvidiaInception, load_trunk

    return InceptionFeatures.from_module(
        NvidiaInception(load_trunk(device, files.inception_trunk)), "MAT cal_fid_pids_uids: NVIDIA inception-2015-12-05 wrapper, offline trunk",
        resize="NVIDIA wrapper: affine_grid + bilinear grid_sample (border) to 299x299, TF1 geometry, of the uint8 "
               "image as float32", device=device, provenance=PROVENANCE, to_uint8=rounded)
