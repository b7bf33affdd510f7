"""JPGNet (Guo et al., ACM MM 2021): EdgeConnect and a kernel prediction network, fused by a second KPN.

As ``edge_kpn_fusion`` of tsingqguo/jpgnet (``kpn/network.py``, ``src/edge_connect.py::fusion_test``).
Both KPNs are one U-Net of ``Basic`` blocks (three conv3 + ReLU; average-pool down, bilinear up)
whose output ``core`` holds a 3×3 kernel per pixel and data channel: tap t = 3i + j of channel c
is ``core[:, 9c + t]``. The kernels filter the data at dilations 1–4 with zero padding; the four
results are concatenated (rate order) into ``conv_final``. KPN1 (``model_type 1``) filters the
corrupted image; KPN2 (``model_type 2``) filters ``cat(res1, res2)`` and maps each rate's six
channels to three with the shared ``conv_fusion`` first. KPN1 carries an unused ``conv_fusion``
too (it is in its checkpoint).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.edgeconnect_networks import EdgeConnect

RATES = (1, 2, 3, 4)
TAPS = 9  # 3x3 kernels


class Basic(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        for cin in (in_channels, out_channels, out_channels):
            layers += [nn.Conv2d(cin, out_channels, 3, padding=1), nn.ReLU()]
        self.conv1 = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)


def apply_kernels(data: torch.Tensor, core: torch.Tensor, rate: int) -> torch.Tensor:
    """Per-pixel 3×3 filtering of each channel of ``data`` [B,N,H,W] by ``core`` [B,9N,H,W] at ``rate``."""
    b, n, h, w = data.shape
    patches = F.unfold(data, 3, dilation=rate, padding=rate)  # [B, N*9, H*W], channel-major, taps row-major
    return (patches * core.reshape(b, n * TAPS, h * w)).view(b, n, TAPS, h, w).sum(2)


class KPN(nn.Module):
    """``data_channels`` channels are filtered; with ``fuse`` each rate's result goes through ``conv_fusion``."""

    def __init__(self, in_channels: int, data_channels: int, fuse: bool):
        super().__init__()
        out = data_channels * TAPS
        widths = [(in_channels, 64), (64, 128), (128, 256), (256, 512), (512, 512), (1024, 512), (768, 256), (384, out)]
        for i, (cin, cout) in enumerate(widths, start=1):
            self.add_module(f"conv{i}", Basic(cin, cout))
        self.outc = nn.Conv2d(out, out, 1)
        self.conv_final = nn.Conv2d(12, 3, 3, padding=1)
        self.conv_fusion = nn.Conv2d(6, 3, 1)
        self.fuse = fuse

    def forward(self, guide: torch.Tensor, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction [B,3,H,W], kernels [B,9N,H,W]); H and W multiples of 16."""
        conv1 = self.conv1(guide)
        conv2 = self.conv2(F.avg_pool2d(conv1, 2))
        conv3 = self.conv3(F.avg_pool2d(conv2, 2))
        conv4 = self.conv4(F.avg_pool2d(conv3, 2))
        conv5 = self.conv5(F.avg_pool2d(conv4, 2))
        conv6 = self.conv6(torch.cat((conv4, _up(conv5)), dim=1))
        conv7 = self.conv7(torch.cat((conv3, _up(conv6)), dim=1))
        conv8 = self.conv8(torch.cat((conv2, _up(conv7)), dim=1))
        core = self.outc(_up(conv8))
        preds = [apply_kernels(data, core, rate) for rate in RATES]
        if self.fuse:
            preds = [self.conv_fusion(pred) for pred in preds]
        return self.conv_final(torch.cat(preds, dim=1)), core


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def uncertainty(core: torch.Tensor) -> torch.Tensor:
    """Mean of the kernels [B,1,H,W], min-max normalised **per image**.

    Upstream's ``get_uncertainty`` normalises over the whole batch, which only its batch size
    of 1 makes per image; normalising per image keeps samples independent at any batch size.
    """
    b, _, h, w = core.shape
    mean = core.view(b, 3, -1, h, w).mean(2).mean(1, keepdim=True)
    low = mean.amin(dim=(1, 2, 3), keepdim=True)
    high = mean.amax(dim=(1, 2, 3), keepdim=True)
    return (mean - low) / (high - low)


class JPGNet(nn.Module):
    """``fusion_test``: images in [0,1] (holes zeroed), masks 1 = hole; returns the final composite."""

    def __init__(self) -> None:
        super().__init__()
        self.edgeconnect = EdgeConnect()
        self.kpn1 = KPN(in_channels=3, data_channels=3, fuse=False)
        self.kpn2 = KPN(in_channels=3 + 3 + 27 + 1, data_channels=6, fuse=True)

    def forward(self, images: torch.Tensor, gray: torch.Tensor, edges: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        known = images * (1 - masks)
        res1 = self.edgeconnect(images, gray, edges, masks) * masks + known
        pred1, core = self.kpn1(known, known)
        res2 = pred1 * masks + known
        pred2, _ = self.kpn2(torch.cat((res1, res2, core, uncertainty(core)), dim=1), torch.cat((res1, res2), dim=1))
        return pred2 * masks + known
