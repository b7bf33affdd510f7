"""RFR-Net generator (Li et al., CVPR 2020) with the module names of jingyuanli001/RFR-Inpainting.

Attribute names and shapes follow ``modules/RFRNet.py``, ``modules/Attention.py`` and NVIDIA's
``partialconv2d.py`` at commit e1cad6a, so the released ``generator`` state_dict (114 tensors)
loads with ``strict=True``. The computation is the upstream one; three things differ in form only:

* the knowledge-consistent attention keeps the scores it carries between recurrences in an
  explicit argument instead of module attributes, and runs as one batched matmul instead of a
  per-sample loop of convolutions (same sums, per sample);
* the dead ``prop_kernels.cuda()`` of ``Attention.py`` is gone, so the model runs on CPU;
* a partial convolution's mask update sums the mask over channels before a one-channel box
  filter instead of convolving with an all-ones ``[out, in, k, k]`` kernel (equal: the masks
  are binary, so both give the same integer counts).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Recurrences of the feature-reasoning loop (``range(6)`` in ``RFRNet.forward``).
ITERATIONS = 6

#: Attention scores and the 1/8-resolution mask of the previous recurrence, or None.
Memory = tuple[torch.Tensor, torch.Tensor] | None


class PartialConv2d(nn.Conv2d):
    """NVIDIA's multi-channel partial convolution without bias (every RFR-Net use has bias=False)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.register_buffer("box", torch.ones(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = F.conv2d(mask.sum(1, keepdim=True), self.box, stride=self.stride, padding=self.padding)
        update = count.clamp(0, 1)
        window = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        ratio = window / (count + 1e-8) * update
        out = super().forward(x * mask) * ratio
        return out, update.expand(-1, self.out_channels, -1, -1)


def conv_bn(conv: nn.Module, channels: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), act)


class Bottleneck(nn.Module):
    """ResNet bottleneck (expansion 4, no downsample) used as ``tail2``."""

    def __init__(self, inplanes: int, planes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + x)


class KnowledgeConsistentAttention(nn.Module):
    """Patch size 1, propagation 3x3; scores are blended with the previous recurrence's by ``ratio``."""

    def __init__(self):
        super().__init__()
        self.ratio = nn.Parameter(torch.ones(1))

    def forward(self, features: torch.Tensor, mask: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, Memory]:
        batch, channels, height, width = features.shape
        if mask.shape[3] != width:
            mask = F.interpolate(mask, size=(height, width))
        flat = features.reshape(batch, channels, height * width)
        keys = flat + 1e-7
        keys = keys / keys.pow(2).sum(1, keepdim=True).sqrt()  # one unit vector per position
        scores = torch.bmm(keys.transpose(1, 2), flat).view(batch, height * width, height, width)
        scores = F.avg_pool2d(scores, 3, 1, padding=1) * 9  # sum over each 3x3 neighbourhood
        scores = F.softmax(scores, dim=1)
        if memory is not None:
            previous, previous_mask = memory
            weight = self.ratio.abs() + 1e-7
            scores = (previous * previous_mask + scores * weight) / (previous_mask + weight)
        out = torch.bmm(keys, scores.view(batch, height * width, height * width))
        return out.view(batch, channels, height, width), (scores, mask.view(batch, 1, height, width))


class AttentionModule(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.att = KnowledgeConsistentAttention()
        self.combiner = nn.Conv2d(channels * 2, channels, kernel_size=1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, Memory]:
        attended, memory = self.att(features, mask, memory)
        return self.combiner(torch.cat([attended, features], dim=1)), memory


class RFRModule(nn.Module):
    """U-Net of the recurrence: enc_1-3 stride 2, enc_4-6 dilated, attention after dec_3."""

    def __init__(self, channels: int = 64):
        super().__init__()
        relu, lrelu = nn.ReLU(inplace=True), nn.LeakyReLU(0.2, inplace=True)
        for i in range(1, 4):
            self.add_module(f"enc_{i}", conv_bn(nn.Conv2d(channels, channels * 2, 3, 2, 1, bias=False), channels * 2, relu))
            channels *= 2
        for i in range(4, 7):
            self.add_module(f"enc_{i}", conv_bn(nn.Conv2d(channels, channels, 3, 1, 2, dilation=2, bias=False), channels, relu))
        self.att = AttentionModule(channels)
        for i in (5, 4):
            self.add_module(f"dec_{i}", conv_bn(nn.Conv2d(channels * 2, channels, 3, 1, 2, dilation=2, bias=False), channels, lrelu))
        self.dec_3 = conv_bn(nn.ConvTranspose2d(1024, 512, 4, 2, 1, bias=False), 512, lrelu)
        self.dec_2 = conv_bn(nn.ConvTranspose2d(768, 256, 4, 2, 1, bias=False), 256, lrelu)
        self.dec_1 = conv_bn(nn.ConvTranspose2d(384, 64, 4, 2, 1, bias=False), 64, lrelu)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, Memory]:
        skips = [x]
        for i in range(1, 7):
            skips.append(getattr(self, f"enc_{i}")(skips[-1]))
        h = skips[6]
        for i in range(5, 0, -1):
            h = getattr(self, f"dec_{i}")(torch.cat([h, skips[i]], dim=1))
            if i == 3:
                h, memory = self.att(h, mask, memory)
        return h, memory


class RFRNet(nn.Module):
    """Input: image [0,1] times mask, mask 1 = valid with 3 channels. Output: unbounded RGB."""

    def __init__(self):
        super().__init__()
        self.Pconv1 = PartialConv2d(3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.Pconv2 = PartialConv2d(64, 64, 7, 1, 3)
        self.bn20 = nn.BatchNorm2d(64)
        self.Pconv21 = PartialConv2d(64, 64, 7, 1, 3)
        self.Pconv22 = PartialConv2d(64, 64, 7, 1, 3)
        self.bn2 = nn.BatchNorm2d(64)
        self.RFRModule = RFRModule()
        self.Tconv = nn.ConvTranspose2d(64, 64, 4, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(64)
        self.tail1 = PartialConv2d(67, 32, 3, 1, 1)
        self.tail2 = Bottleneck(32, 8)
        self.out = nn.Conv2d(64, 3, 3, 1, 1, bias=False)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, m = self.Pconv1(image, mask)
        x = F.relu(self.bn1(x))
        x, m = self.Pconv2(x, m)
        x = F.relu(self.bn20(x))
        features, masks = [x], [m]
        memory: Memory = None
        for _ in range(ITERATIONS):
            x, m = self.Pconv21(x, m)
            x, m = self.Pconv22(x, m)
            x = F.leaky_relu(self.bn2(x))
            x, memory = self.RFRModule(x, m[:, :1], memory)
            x = x * m
            features.append(x)
            masks.append(m)
        stacked_masks = torch.stack(masks, dim=2)
        merged = (torch.stack(features, dim=2) * stacked_masks).mean(2) / (stacked_masks.mean(2) + 1e-7)
        up = F.leaky_relu(self.bn3(self.Tconv(merged)))
        up_mask = F.interpolate(masks[-1], scale_factor=2)
        x, _ = self.tail1(torch.cat([image, up], dim=1), torch.cat([mask, up_mask], dim=1))
        x = F.leaky_relu(x)
        return self.out(torch.cat([x, self.tail2(x)], dim=1))
