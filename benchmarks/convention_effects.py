"""How far the metric conventions move PSNR and SSIM, on the embedded default.

The embedded default: the 9 sample photos at 256², generated masks of the paper's 3 buckets
(seed 0), filled by a classical method (Telea by default; the harness's own manifest and
predictors). Per bucket and method, two tables:

* between profiles: mean and max of paper − edgeconnect (PSNR, SSIM) and paper − lama (SSIM;
  LaMa reports no PSNR);
* one convention choice at a time: how much changing it alone moves PSNR or SSIM (mean and max
  of the signed change) — truncation → rounding, grey → RGB, SSIM window, crop, covariance,
  padding, float32 → float64.

Telea fills on uint8 and its output lies on the uint8 grid, so truncation and rounding agree
exactly on it; ``--methods telea,biharmonic`` adds a method with continuous values, as a
network has, where the quantisation choice shows.

    python benchmarks/convention_effects.py [--methods telea[,biharmonic,...]] [--limit N]
"""
from __future__ import annotations

import argparse
import math
from collections import defaultdict
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import correlate
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.data.manifest import build_manifest
from harness.metrics import edgeconnect, functional, lama
from harness.metrics.scoring import Views
from harness.engine.prediction import predict_batch
from harness.registry import load_predictor
from harness.data.spec import RunSpec


def _rounded_uint8(images: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(np.round(images.permute(0, 2, 3, 1).numpy().astype(np.float32) * 255).astype(np.uint8))


def _lama_ssim(pred: torch.Tensor, truth: torch.Tensor, padding: str = "zeros", crop: int = 0,
               dtype: torch.dtype = torch.float32) -> list[float]:
    """LaMa's SSIM with one choice altered (padding, crop of the map, arithmetic)."""
    pred, truth = pred.to(dtype), truth.to(dtype)
    window = lama.gaussian_window(3).to(dtype)

    def blur(x: torch.Tensor) -> torch.Tensor:
        if dtype == torch.float64:  # the same zero-padded correlation; scipy is far faster than float64 conv2d
            return torch.from_numpy(correlate(x.numpy(), window[:1].numpy(), mode="constant"))  # [1,1,11,11]
        if padding == "reflect":
            return F.conv2d(F.pad(x, (5,) * 4, mode="reflect"), window, groups=3)
        return F.conv2d(x, window, padding=5, groups=3)

    mu1, mu2 = blur(pred), blur(truth)
    s1, s2, s12 = blur(pred * pred) - mu1**2, blur(truth * truth) - mu2**2, blur(pred * truth) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    height, width = ssim_map.shape[2:]
    return ssim_map[:, :, crop:height - crop, crop:width - crop].mean((1, 2, 3)).tolist()


def _ec_ssim(gt: np.ndarray, pred: np.ndarray, **options) -> float:
    options = {"win_size": 51, "data_range": 1, **options}
    if gt.ndim == 3:
        options["channel_axis"] = -1
    return float(structural_similarity(gt.astype(np.float64), pred.astype(np.float64), **options))


def _ec_ssim_uncropped(gt: np.ndarray, pred: np.ndarray) -> float:
    _, ssim_map = structural_similarity(gt.astype(np.float64), pred.astype(np.float64), win_size=51, data_range=1, full=True)
    return float(ssim_map.mean())


def _ec_rgb(u8: np.ndarray) -> np.ndarray:
    return (u8 / 255.0).astype(np.float32)


def scores(images: torch.Tensor, predictions: torch.Tensor, masks: torch.Tensor) -> dict[str, list[float]]:
    """Per image: each profile's PSNR/SSIM and the same numbers with one convention altered."""
    views = Views(images, predictions, masks, functional.truncate_uint8)
    paper = functional.to_uint8_truncated(views.composite), functional.to_uint8_truncated(views.truth)
    lam = Views(images, predictions, masks, lama.saved_png_float).quantised
    ec = Views(images, predictions, masks, edgeconnect.saved_png_grey).quantised
    rounded = _rounded_uint8(views.composite), _rounded_uint8(views.truth)
    ec_rounded = edgeconnect.read_grey(rounded[0]), edgeconnect.read_grey(rounded[1])
    ec_u8 = edgeconnect._saved_uint8(views.composite), edgeconnect._saved_uint8(views.truth)
    ec_rgb = _ec_rgb(ec_u8[0]), _ec_rgb(ec_u8[1])
    lama_rounded = lama._FROM_UINT8[torch.from_numpy(rounded[0]).permute(0, 3, 1, 2).long()], \
        lama._FROM_UINT8[torch.from_numpy(rounded[1]).permute(0, 3, 1, 2).long()]
    pair = lambda fn, quantised: [fn(g, p) for p, g in zip(*quantised)]  # noqa: E731  (pred, gt) → fn(gt, pred)
    out = {
        "paper PSNR": pair(functional.psnr, paper), "paper SSIM": pair(functional.ssim, paper),
        "lama SSIM": lama.ssim_per_image(*lam).tolist(),
        "edgeconnect PSNR": pair(edgeconnect.psnr_grey, ec), "edgeconnect SSIM": pair(edgeconnect.ssim_grey, ec),
        # one choice altered
        "paper PSNR, rounding": pair(functional.psnr, rounded), "paper SSIM, rounding": pair(functional.ssim, rounded),
        "paper SSIM, population covariance": pair(lambda g, p: float(structural_similarity(
            g, p, channel_axis=-1, data_range=255, use_sample_covariance=False)), paper),
        "lama SSIM, rounding": lama.ssim_per_image(*lama_rounded).tolist(),
        "lama SSIM, reflect padding": _lama_ssim(*lam, padding="reflect"),
        "lama SSIM, map cropped 5 px": _lama_ssim(*lam, crop=5),
        "lama SSIM, float64": _lama_ssim(*lam, dtype=torch.float64),
        "edgeconnect PSNR, rounding": pair(edgeconnect.psnr_grey, ec_rounded),
        "edgeconnect SSIM, rounding": pair(edgeconnect.ssim_grey, ec_rounded),
        "edgeconnect PSNR, RGB": pair(lambda g, p: min(100.0, peak_signal_noise_ratio(g, p, data_range=1)), ec_rgb),
        "edgeconnect SSIM, RGB": pair(_ec_ssim, ec_rgb),
        "edgeconnect SSIM, 7x7 window": pair(lambda g, p: _ec_ssim(g, p, win_size=7), ec),
        "edgeconnect SSIM, no crop": pair(_ec_ssim_uncropped, ec),
        "edgeconnect SSIM, population covariance": pair(lambda g, p: _ec_ssim(g, p, use_sample_covariance=False), ec),
    }
    return out


#: (row label, fn(values of one image) -> difference)
def _minus(a: str, b: str) -> Callable[[dict[str, float]], float]:
    return lambda v: v[a] - v[b]


BETWEEN = [
    ("PSNR paper - edgeconnect", _minus("paper PSNR", "edgeconnect PSNR")),
    ("SSIM paper - edgeconnect", _minus("paper SSIM", "edgeconnect SSIM")),
    ("SSIM paper - lama", _minus("paper SSIM", "lama SSIM")),
]
CHOICES = [
    ("paper PSNR: truncation -> rounding", _minus("paper PSNR, rounding", "paper PSNR")),
    ("paper SSIM: truncation -> rounding", _minus("paper SSIM, rounding", "paper SSIM")),
    ("paper SSIM: sample -> population covariance", _minus("paper SSIM, population covariance", "paper SSIM")),
    ("lama SSIM: truncation -> rounding", _minus("lama SSIM, rounding", "lama SSIM")),
    ("lama SSIM: zero -> reflect padding", _minus("lama SSIM, reflect padding", "lama SSIM")),
    ("lama SSIM: full map -> cropped by 5 px", _minus("lama SSIM, map cropped 5 px", "lama SSIM")),
    ("lama SSIM: float32 -> float64", _minus("lama SSIM, float64", "lama SSIM")),
    ("edgeconnect PSNR: truncation -> rounding", _minus("edgeconnect PSNR, rounding", "edgeconnect PSNR")),
    ("edgeconnect PSNR: grey -> RGB", _minus("edgeconnect PSNR, RGB", "edgeconnect PSNR")),
    ("edgeconnect SSIM: truncation -> rounding", _minus("edgeconnect SSIM, rounding", "edgeconnect SSIM")),
    ("edgeconnect SSIM: grey -> RGB", _minus("edgeconnect SSIM, RGB", "edgeconnect SSIM")),
    ("edgeconnect SSIM: window 51 -> 7", _minus("edgeconnect SSIM, 7x7 window", "edgeconnect SSIM")),
    ("edgeconnect SSIM: crop 25 px -> no crop", _minus("edgeconnect SSIM, no crop", "edgeconnect SSIM")),
    ("edgeconnect SSIM: sample -> population covariance",
     _minus("edgeconnect SSIM, population covariance", "edgeconnect SSIM")),
]


def _cell(values: list[float]) -> str:
    mean, peak = float(np.mean(values)), max(values, key=abs)
    fmt = (lambda x: f"{x:+.2e}") if 0 < abs(peak) < 1e-3 else (lambda x: f"{x:+.4f}")
    return f"{fmt(mean)} / {fmt(peak)}"


def table(title: str, rows: list[tuple[str, Callable]], per_bucket: dict[str, list[dict[str, float]]]) -> str:
    buckets = list(per_bucket)
    lines = [f"{title} (mean / max by |value|, over {', '.join(f'{b}: n={len(per_bucket[b])}' for b in buckets)})", "",
             "| | " + " | ".join(buckets) + " |", "|---|" + "---|" * len(buckets)]
    for label, fn in rows:
        lines.append(f"| {label} | " + " | ".join(_cell([fn(v) for v in per_bucket[b]]) for b in buckets) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="telea", help="comma-separated classical methods (default: telea)")
    parser.add_argument("--limit", type=int, default=None, help="images per bucket (default: all 9)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest = build_manifest(RunSpec(limit=args.limit))
    loaded = [(item, *manifest.load(item)) for item in manifest.items]
    images = torch.from_numpy(np.stack([image for _, image, _ in loaded])).permute(0, 3, 1, 2).float() / 255
    masks = torch.from_numpy(np.stack([mask for _, _, mask in loaded]))[:, None].float()
    print(f"{manifest.spec.dataset}, {manifest.spec.masks} masks, {manifest.spec.size} px, seed {manifest.spec.seed}: "
          f"{len(loaded)} items")
    for method in args.methods.split(","):
        predictions = predict_batch(load_predictor(method), images, masks).outputs
        values = scores(images, predictions, masks)
        per_bucket: dict[str, list[dict[str, float]]] = defaultdict(list)
        for index, (item, _, _) in enumerate(loaded):
            per_bucket[item.bucket].append({key: column[index] for key, column in values.items()})
        assert all(math.isfinite(v) for column in values.values() for v in column)
        print(f"\n## {method}\n")
        print(table("Between profiles", BETWEEN, per_bucket))
        print()
        print(table("One convention choice at a time", CHOICES, per_bucket))


if __name__ == "__main__":
    main()
