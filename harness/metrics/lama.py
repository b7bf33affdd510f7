"""The ``lama`` profile: LaMa's evaluation (advimman/lama at 786f593), predict then evaluate.

* Quantisation, ``bin/predict.py`` l.86-94: the composite (``out_key: inpainted``, i.e.
  ``mask * predicted + (1 - mask) * image``, saicinpainting/training/trainers/default.py l.71)
  is written with ``np.clip(x * 255, 0, 255).astype('uint8')`` (float32 times 255, then
  truncation) as PNG (``out_ext`` '.png', l.53). ``bin/evaluate_predicts.py`` reads it back
  through ``PrecomputedInpaintingResultsDataset`` (saicinpainting/evaluation/data.py l.12-20,
  l.110-124: PIL RGB, ``astype('float32') / 255``) and the ground truth from its own PNG
  (configs/eval2.yaml ``img_suffix: .png``) the same way. PNG is lossless, so the file round
  trip is the identity on the uint8 array and is skipped here.
* Scores, ``bin/evaluate_predicts.py`` l.19-23: SSIM, LPIPS and FID. LaMa reports no PSNR and
  no L1, so this profile has none. FID is a set-level score (Inception features of a whole
  bucket) and is not part of this profile yet.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from harness.metrics.lpips_model import lpips_distance
from harness.metrics.model_files import ModelFiles

#: uint8 → float32 exactly as numpy computes ``u8.astype('float32') / 255`` (data.py l.16),
#: looked up rather than divided so that no device's division shortcut can change a bit.
_FROM_UINT8 = torch.from_numpy(np.arange(256, dtype=np.float32) / 255)


def _saved_png(images: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] in [0,1] → float32 [B,3,H,W] as LaMa re-reads its truncated uint8 PNGs."""
    scaled = (images.detach().to(torch.float32) * 255).clamp(0, 255)  # np.clip(x * 255, 0, 255) in float32
    codes = scaled.to(torch.uint8).long()  # .astype('uint8') truncates
    return _FROM_UINT8.to(images.device)[codes]


def saved_png_float(composite: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lama quantisation: (composite, truth) as float32 tensors on their device, each value
    one of the 256 levels ``u / 255`` that LaMa's evaluator reads from the PNG files."""
    return _saved_png(composite), _saved_png(truth)


@contextmanager
def exact_float32() -> Iterator[None]:
    """TF32 off (cuDNN convolutions and CUDA matmuls) for the duration, restored afterwards.

    LaMa's numbers are float32 ones; TF32 keeps 10 mantissa bits and would move SSIM by far more
    than the float32 noise this profile reproduces. On CPU the flags change nothing."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


WINDOW_SIZE, SIGMA = 11, 1.5


def gaussian_window(channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The [C,1,11,11] window of saicinpainting/evaluation/losses/ssim.py l.36-45: 1-D Gaussian
    values in float64 stored as float32, normalised in float32, outer product in float32."""
    taps = torch.tensor([math.exp(-((x - WINDOW_SIZE // 2) ** 2) / (2 * SIGMA**2)) for x in range(WINDOW_SIZE)],
                        dtype=torch.float32)
    taps = (taps / taps.sum())[:, None]
    return taps.mm(taps.t())[None, None].expand(channels, 1, WINDOW_SIZE, WINDOW_SIZE).contiguous().to(device)


def ssim_per_image(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """LaMa's SSIM (losses/ssim.py l.47-71, ``SSIMScore`` with ``size_average=False``) per image.

    Zero padding of 5 (``F.conv2d(padding=window_size // 2)``, one group per channel), variances
    as E[x²] − μ², C1 = 0.01², C2 = 0.03² (range [0,1]), the full map averaged over channels,
    then rows, then columns; no crop. Computed in float32 with conv2d like the original: its
    float32 rounding moves the value by ~1e-5 against the same formula in float64.
    """
    pred, truth = pred.to(torch.float32), truth.to(torch.float32)
    channels = pred.shape[1]
    window = gaussian_window(channels, pred.device)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, padding=WINDOW_SIZE // 2, groups=channels)

    with exact_float32(), torch.inference_mode():
        mu1, mu2 = blur(pred), blur(truth)
        mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
        sigma1_sq = blur(pred * pred) - mu1_sq
        sigma2_sq = blur(truth * truth) - mu2_sq
        sigma12 = blur(pred * truth) - mu1_mu2
        c1, c2 = 0.01**2, 0.03**2
        ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
        return ssim_map.mean(1).mean(1).mean(1).cpu()


def ssim(views) -> list[float]:
    """SSIMScore: ``SSIM(pred, target)`` on the two PNG-quantised float32 images."""
    pred, truth = views.quantised
    return ssim_per_image(pred, truth).tolist()


def lpips_vgg(device: torch.device | str = "cpu", files: ModelFiles = ModelFiles()) -> Callable | None:
    """LPIPSScore (losses/base_loss.py l.106-118; losses/lpips.py l.18-42, l.252-294, l.571-600):
    net-lin VGG v0.1 on ``2x - 1`` of the two PNG-quantised images, whole image, no clamp.

    LaMa loads ``models/lpips_models/vgg.pth``, byte-identical to lpips 0.1.4's
    ``weights/v0.1/vgg.pth``, over torchvision's ImageNet VGG16, so lpips 0.1.4 computes the
    same network. None when the backbone is unavailable offline."""
    distance = lpips_distance("vgg", device, files)
    if distance is None:
        return None

    def fn(views) -> list[float]:
        pred, truth = views.quantised
        with exact_float32():
            return distance(truth, pred).tolist()  # PerceptualLoss calls model(target, pred)

    return fn
