"""The ``edgeconnect`` profile: EdgeConnect's ``scripts/metrics.py`` (knazeri/edge-connect at
3142579) on the files its ``test()`` saves, reproduced with today's scikit-image.

* Saved outputs, src/edge_connect.py l.322-334 and l.411-415, src/utils.py l.51-53: the
  composite ``outputs * masks + images * (1 - masks)`` goes through ``postprocess``
  (``img * 255.0`` in float32, then ``.int()``: truncation) and ``imsave`` (``astype(np.uint8)``,
  PIL). The file keeps the test image's name and extension; for PNG inputs it is lossless.
* Reading, scripts/metrics.py l.46-50: ``(imread(f) / 255.0).astype(np.float32)`` for the
  ground-truth file and the output, then ``rgb2gray``: in skimage 0.14 (skimage/color/colorconv.py)
  ``np.dot(rgb, coeffs)`` with ``coeffs = [0.2125, 0.7154, 0.0721]`` in the input's dtype, float32
  (``img_as_float`` lets float32 through). Today's ``rgb2gray`` computes ``rgb @ coeffs``, a
  float32 sequential sum, where ``np.dot`` on a C-contiguous HxWx3 float32 array rounds the
  double-precision sum of the float32 products once (numpy's per-element ``FLOAT_dot`` via BLAS
  ``sdot``; observed with numpy 2.4 / OpenBLAS 0.3.31, and on other layouts np.dot takes other
  BLAS paths that round otherwise). The two are one ulp apart on ~20 % of the pixels, which moves
  PSNR by up to ~3e-4 dB on near-identical images, so the grey image here is 0.14's ``np.dot`` on
  a C-contiguous array like the one imread returns.
* Scores, l.22-25 and l.61-63: ``compare_psnr(gt, pred, data_range=1)``,
  ``compare_ssim(gt, pred, data_range=1, win_size=51)`` and ``compare_mae`` (relative L1).

dtype path against skimage 0.14 (the pinned ``scikit-image ~= 0.14.0``): its ``compare_psnr``
promotes to ``result_type(float32, float32, float32)`` = float32 and averages the squared
error in float64, exactly as today's ``peak_signal_noise_ratio``; its ``compare_ssim`` casts
both images to **float64** before filtering, where today's ``structural_similarity`` keeps
float32 input in float32, so the SSIM here passes float64 arrays.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

#: The PSNR column's cap (the paper profile's too). Upstream has none: it returns inf for identical
#: images, which no cache entry or result table can hold (finite numbers only), and exceeds 100 dB
#: only when the grey RMS difference is below 1e-5 (one level changed in a few pixels). Every
#: value below 100 dB is upstream's unchanged.
PSNR_CAP = 100.0
SSIM_WINDOW = 51
GREY = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)  # skimage 0.14 rgb2gray, in the float32 input's dtype


def _saved_uint8(images: torch.Tensor) -> np.ndarray:
    """``postprocess`` + ``imsave``: [B,3,H,W] in [0,1] → uint8 [B,H,W,3], ×255.0 in float32 then truncated."""
    codes = (images.detach().to(torch.float32) * 255.0).int()  # .int() truncates toward zero
    # C-contiguous HxWx3, as imread returns it: np.dot's float32 rounding depends on the layout.
    return np.ascontiguousarray(codes.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8))


def read_grey(saved: np.ndarray) -> np.ndarray:
    """metrics.py l.46-50 on uint8 [..., 3]: ``/ 255.0`` (float64), float32, then skimage 0.14's
    ``rgb2gray``, ``np.dot`` with float32 coefficients → float32 grey."""
    return np.dot((saved / 255.0).astype(np.float32), GREY)


def saved_png_grey(composite: torch.Tensor, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The edgeconnect quantisation: (composite, truth) as the float32 grey [B,H,W] arrays its
    metrics script computes from the saved PNG output and the ground-truth file."""
    return read_grey(_saved_uint8(composite)), read_grey(_saved_uint8(truth))


def psnr_grey(gt: np.ndarray, pred: np.ndarray) -> float:
    """``compare_psnr(gt, pred, data_range=1)``: 10·log10(1 / MSE), MSE of the float32 difference
    averaged in float64; capped at :data:`PSNR_CAP` (upstream: inf for identical images)."""
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(gt, pred, data_range=1)
    return float(min(PSNR_CAP, value))


def ssim_grey(gt: np.ndarray, pred: np.ndarray) -> float:
    """``compare_ssim(gt, pred, data_range=1, win_size=51)`` of skimage 0.14: 51×51 uniform window
    (scipy ``uniform_filter``, reflect border), sample covariance (N / (N − 1)), K1 0.01, K2 0.03,
    the map cropped by 25 px, all in float64 (0.14 cast its inputs to float64)."""
    return float(structural_similarity(gt.astype(np.float64), pred.astype(np.float64),
                                       win_size=SSIM_WINDOW, data_range=1))


def mae_relative(gt: np.ndarray, pred: np.ndarray) -> float:
    """``compare_mae``: Σ|gt − pred| / Σ(gt + pred) over the grey float32 images, in float32 (a
    fraction, not a mean). Both images black (0 / 0, upstream NaN) count as 0: no error."""
    gt, pred = gt.astype(np.float32), pred.astype(np.float32)
    denominator = np.sum(gt + pred)
    return float(np.sum(np.abs(gt - pred)) / denominator) if denominator > 0 else 0.0


def psnr(views) -> list[float]:
    pred, gt = views.quantised
    return [psnr_grey(g, p) for g, p in zip(gt, pred)]


def ssim(views) -> list[float]:
    pred, gt = views.quantised
    return [ssim_grey(g, p) for g, p in zip(gt, pred)]


def mae(views) -> list[float]:
    pred, gt = views.quantised
    return [mae_relative(g, p) for g, p in zip(gt, pred)]
