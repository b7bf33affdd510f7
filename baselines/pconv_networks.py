"""OpenMMLab's partial-convolution U-Net (Liu et al. 2018), as mmagic ``models/editors/pconv``.

NVIDIA never released its inpainting network; OpenMMLab's re-implementation is the only PConv
with released weights and published metrics. Module names follow mmagic so that the released
``generator.*`` keys load with ``strict=True``: ``encoder.enc1..enc7`` and
``decoder.dec1..dec7``, each a ``MaskConvModule`` with ``.conv`` and (where normalised) ``.bn``.
Every partial conv keeps its all-ones ``weight_mask_updater`` (out, in, k, k) as a buffer, so
those 14 tensors are in the checkpoint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: eps of mmagic's PartialConv2d (its default, used by the released models).
EPS = 1e-8


class PartialConv2d(nn.Conv2d):
    """mmagic's multi-channel partial convolution.

    With ``S`` the number of valid inputs under the window (summed over all input channels):
    out = (W·(x⊙M)) · C_in·k·k / (S + eps) + b where S > 0, and 0 where S = 0; the new mask is
    clamp(S, 0, 1), one value per output channel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, bias: bool):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)
        self.register_buffer("weight_mask_updater", torch.ones(out_channels, in_channels, kernel_size, kernel_size))
        self.window = in_channels * kernel_size * kernel_size

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        covered = F.conv2d(mask, self.weight_mask_updater, stride=self.stride, padding=self.padding)
        updated = covered.clamp(0, 1)
        ratio = self.window / (covered + EPS) * updated
        out = F.conv2d(x * mask, self.weight, stride=self.stride, padding=self.padding) * ratio
        if self.bias is not None:
            out = (out + self.bias.view(1, -1, 1, 1)) * updated
        return out, updated


class MaskConvModule(nn.Module):
    """Partial conv, then BatchNorm (``bn``, when ``norm``), then the activation; bias only without norm
    (mmcv ConvModule's ``bias='auto'``)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, norm: bool, activation: nn.Module | None
    ):
        super().__init__()
        padding = kernel_size // 2
        self.conv = PartialConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not norm)
        self.bn = nn.BatchNorm2d(out_channels) if norm else None
        self.activate = activation

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = self.conv(x, mask)
        if self.bn is not None:
            x = self.bn(x)
        if self.activate is not None:
            x = self.activate(x)
        return x, mask


#: (in, out, kernel) of enc1..enc7, all stride 2 with ReLU; enc1 has no norm.
ENCODER = [(3, 64, 7), (64, 128, 5), (128, 256, 5), (256, 512, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3)]
#: (in, out) of dec1..dec7, all k3 stride 1 with LeakyReLU(0.2); dec1 has neither norm nor activation.
DECODER = [(64 + 3, 3), (128 + 64, 64), (256 + 128, 128), (512 + 256, 256), (1024, 512), (1024, 512), (1024, 512)]


class PConvEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout, k) in enumerate(ENCODER, start=1):
            self.add_module(f"enc{i}", MaskConvModule(cin, cout, k, 2, norm=i > 1, activation=nn.ReLU()))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Features and masks h0 (the input) … h7."""
        feats, masks = [x], [mask]
        for i in range(1, len(ENCODER) + 1):
            x, mask = getattr(self, f"enc{i}")(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks


class PConvDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i, (cin, cout) in enumerate(DECODER, start=1):
            last = i == 1
            activation = None if last else nn.LeakyReLU(0.2)
            self.add_module(f"dec{i}", MaskConvModule(cin, cout, 3, 1, norm=not last, activation=activation))

    def forward(self, feats: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, h_mask = feats[-1], masks[-1]
        for i in range(len(DECODER), 0, -1):
            h = torch.cat((F.interpolate(h, scale_factor=2, mode="nearest"), feats[i - 1]), dim=1)
            h_mask = torch.cat((F.interpolate(h_mask, scale_factor=2, mode="nearest"), masks[i - 1]), dim=1)
            h, h_mask = getattr(self, f"dec{i}")(h, h_mask)
        return h, h_mask


class PConvEncoderDecoder(nn.Module):
    """mmagic's generator: image normalised to [-1,1] (holes at 0), mask 1 = valid with 3 channels;
    returns the raw (unbounded) output."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = PConvEncoder()
        self.decoder = PConvDecoder()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(*self.encoder(x, mask))[0]
