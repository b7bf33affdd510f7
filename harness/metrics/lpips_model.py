"""LPIPS (v0.1, VGG by default) through the ``lpips`` package, with the backbone's real
download path (torchvision's cache under ``$TORCH_HOME/hub/checkpoints``).

Offline without a cached backbone the download fails; we then warn once and report LPIPS as
unavailable so that the other metrics still run. To use LPIPS offline, place
``vgg16-397923af.pth`` (or ``alexnet-owt-7be5be79.pth``) in ``$TORCH_HOME/hub/checkpoints``.
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import Callable

import torch

BACKBONE_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth", "squeeze": "squeezenet1_1-b8a52dc0.pth"}

LpipsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@lru_cache(maxsize=None)
def _build(net: str, device: str) -> torch.nn.Module | None:
    if os.environ.get("HARNESS_NO_LPIPS"):
        return None
    try:
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version="0.1", verbose=False)
    except Exception as error:  # offline download failure, missing file, broken install
        warnings.warn(
            f"LPIPS unavailable ({type(error).__name__}: {error}). LPIPS is left empty; the other metrics run. "
            f"To enable it offline put {BACKBONE_FILES.get(net, net)} in {torch.hub.get_dir()}/checkpoints.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return model.to(device).eval()


def lpips_distance(net: str = "vgg", device: str | torch.device = "cpu") -> LpipsFn | None:
    """A function (a, b in [0,1], [B,3,H,W]) → per-image LPIPS, or None when unavailable.

    Inputs go to lpips on [-1,1] (``2x - 1``, i.e. MISF's Normalize(0.5, 0.5)).
    """
    model = _build(net, str(device))
    if model is None:
        return None

    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(a.to(device) * 2 - 1, b.to(device) * 2 - 1).flatten().cpu()

    return distance


def lpips_vgg_float(device: str | torch.device = "cpu"):
    """The paper profile's LPIPS (VGG v0.1 on the float composite), built once on ``device``."""
    distance = lpips_distance("vgg", device)
    if distance is None:
        return None
    return lambda views: distance(views.composite, views.truth).tolist()
