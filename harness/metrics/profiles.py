"""Named metric conventions. A profile fixes every choice that moves the numbers and is
written into each result, so numbers from different conventions are never mixed silently."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from harness.metric_names import HIGHER_IS_BETTER, METRICS  # noqa: F401  (re-exported)
from harness.metrics.functional import composite, l1_percent, psnr_uint8, ssim_uint8, to_uint8_truncated
from harness.metrics.lpips_model import LpipsFn



@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    scored_image: str
    quantisation: str
    psnr: str
    ssim: str
    l1: str
    lpips: str
    lpips_net: str = "vgg"
    #: Version of the metric code this profile runs, part of the metric cache's folder name:
    #: bump it when a change moves any number (a test holds it against a hash of that code).
    version: int = 1

    def convention(self) -> dict[str, str]:
        return asdict(self)

    @property
    def cache_name(self) -> str:
        return f"{self.name}-v{self.version}"

    def compute(
        self,
        images: torch.Tensor,
        predictions: torch.Tensor,
        masks: torch.Tensor,
        wanted: tuple[str, ...] = METRICS,
        lpips_fn: LpipsFn | None = None,
    ) -> list[dict[str, float]]:
        """Per-image metrics of a batch: images/predictions [B,3,H,W] in [0,1], masks [B,1,H,W]."""
        merged = composite(predictions, images, masks).clamp(0, 1)
        truth = images.clamp(0, 1)
        rows: list[dict[str, float]] = [{} for _ in range(len(images))]
        if "PSNR" in wanted or "SSIM" in wanted:
            gt_u8, pre_u8 = to_uint8_truncated(truth), to_uint8_truncated(merged)
            for row, g, p in zip(rows, gt_u8, pre_u8):
                if "PSNR" in wanted:
                    row["PSNR"] = psnr_uint8(g, p)
                if "SSIM" in wanted:
                    row["SSIM"] = ssim_uint8(g, p)
        if "L1" in wanted:
            for row, value in zip(rows, l1_percent(merged, truth).tolist()):
                row["L1"] = value
        if "LPIPS" in wanted and lpips_fn is not None:
            for row, value in zip(rows, lpips_fn(merged, truth).tolist()):
                row["LPIPS"] = value
        return rows


PAPER = Profile(
    name="paper",
    description="official MISF test code (src/misf.py metric(), scikit-image 0.18 defaults, lpips 0.1.4)",
    scored_image="composite pred*mask + gt*(1-mask), clamped to [0,1]",
    quantisation="x255 in float32 then uint8 truncation (not rounding), for PSNR and SSIM",
    psnr="skimage peak_signal_noise_ratio, data_range 255, RGB, whole image, capped at 100",
    ssim="skimage structural_similarity defaults: 7x7 uniform window, sample covariance, K1 0.01, K2 0.03, "
    "data_range 255, mean over RGB",
    l1="mean absolute error over the whole image in [0,1], reported x100",
    lpips="lpips 0.1.4 LPIPS(net='vgg', version='0.1') on [-1,1] float composite (not quantised)",
)

PROFILES = {PAPER.name: PAPER}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"unknown metric profile '{name}'; known: {', '.join(PROFILES)}")
    return PROFILES[name]
