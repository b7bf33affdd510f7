"""Fitting evaluation-size batches to a method's size constraints, and back.

* A method with a native size runs at that size: images and masks are resized with the same
  filter (bilinear, antialiased) and every pixel a hole touched becomes a hole (``> 0``), so
  known pixels are never darkened by the zeroed holes and no ground truth leaks in. Predictions are resized
  back bilinearly.
* A method that only needs squares, multiples of k or a minimum side gets the batch padded at
  the bottom and right (image by edge replication, mask with 0 = known), and the prediction is cropped back.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.predictor import SizeSpec


@dataclass(frozen=True)
class Fit:
    height: int
    width: int
    resize_to: int | None = None
    pad_bottom: int = 0
    pad_right: int = 0

    def forward(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resize_to is not None:
            size = (self.resize_to, self.resize_to)
            # Same filter as the image, so every pixel a hole contributed to becomes a hole.
            masks = (F.interpolate(masks, size=size, mode="bilinear", align_corners=False, antialias=True) > 0).to(masks.dtype)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
            return images * (1 - masks), masks
        if self.pad_bottom or self.pad_right:
            pad = (0, self.pad_right, 0, self.pad_bottom)
            return F.pad(images, pad, mode="replicate"), F.pad(masks, pad, value=0.0)
        return images, masks

    def ground_truth(self, images: torch.Tensor) -> torch.Tensor:
        """The un-zeroed image through the same geometry (for methods that read it)."""
        if self.resize_to is not None:
            size = (self.resize_to, self.resize_to)
            return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
        if self.pad_bottom or self.pad_right:
            return F.pad(images, (0, self.pad_right, 0, self.pad_bottom), mode="replicate")
        return images

    def backward(self, predictions: torch.Tensor) -> torch.Tensor:
        if self.resize_to is not None:
            return F.interpolate(predictions, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return predictions[:, :, : self.height, : self.width]

    @property
    def input_size(self) -> tuple[int, int]:
        if self.resize_to is not None:
            return self.resize_to, self.resize_to
        return self.height + self.pad_bottom, self.width + self.pad_right


def plan_fit(size: SizeSpec, height: int, width: int) -> Fit:
    if size.accepts(height, width):
        return Fit(height, width)
    if size.native is not None:
        return Fit(height, width, resize_to=size.native)
    k = size.multiple
    new_h, new_w = (-(-max(side, size.minimum) // k) * k for side in (height, width))
    if size.square:
        new_h = new_w = max(new_h, new_w)
    return Fit(height, width, pad_bottom=new_h - height, pad_right=new_w - width)
