"""MI-GAN's inference generator (Sargsyan et al., ICCV 2023), re-stated from the description in docs/migan.md.

The module tree (and so every state_dict key) is that of the released ``migan_{256,512}_*.pt``
files: ``encoder.b{R}`` blocks from the model resolution down to 4, then ``synthesis.b4`` up to
``synthesis.b{R}``. Every convolution is depthwise-separable; the fixed 4-tap blur filters of
the resamplers and the constant noise maps are stored in the checkpoint, so they are loaded,
not recomputed. The network has no randomness, no normalisation and no dropout: batch items
are independent.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Channels per resolution: min(CH_BASE // res, CH_MAX).
CH_BASE, CH_MAX = 32768, 512
#: The 4-tap binomial filter of every resampler, as an outer product.
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def lrelu_agc(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) scaled by sqrt(2) and clamped to +-256, the activation of every layer."""
    return (F.leaky_relu(x, 0.2) * math.sqrt(2)).clamp(-256, 256)


def channels(resolution: int) -> int:
    return min(CH_BASE // resolution, CH_MAX)


def blur_kernel(gain: float) -> torch.Tensor:
    """Normalised 4x4 binomial kernel times ``gain`` (the initial value; checkpoints overwrite it)."""
    taps = torch.tensor(BLUR_TAPS)
    return torch.outer(taps, taps) / taps.sum() ** 2 * gain


class Downsample2d(nn.Module):
    """Blur and halve: a depthwise 4x4 stride-2 convolution with padding 1."""

    def __init__(self, ch: int):
        super().__init__()
        self.filter = nn.Conv2d(ch, ch, 4, stride=2, padding=1, groups=ch, bias=False)
        self.filter.weight = nn.Parameter(blur_kernel(1.0).expand(ch, 1, 4, 4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter(x)


class Upsample2d(nn.Module):
    """Double by zero insertion (``filter_const`` keeps the top-left of every 2x2 cell of a
    nearest-neighbour upsampling), then a depthwise 4x4 blur of gain 4 padded (2, 1)."""

    def __init__(self, ch: int, resolution: int):
        super().__init__()
        cell = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        self.register_buffer("filter_const", cell.repeat(1, 1, resolution // 2, resolution // 2))
        self.filter = nn.Conv2d(ch, ch, 4, groups=ch, bias=False)
        self.filter.weight = nn.Parameter(blur_kernel(4.0).expand(ch, 1, 4, 4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest") * self.filter_const
        return self.filter(F.pad(x, (2, 1, 2, 1)))


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 (+bias, activation), optional downsampling, pointwise 1x1, optional
    upsampling, optional constant noise, activation."""

    def __init__(self, cin: int, cout: int, resolution: int | None = None, down: bool = False, up: bool = False,
                 noise: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.conv2 = nn.Conv2d(cin, cout, 1, bias=False)
        self.downsample = Downsample2d(cin) if down else None
        self.upsample = Upsample2d(cout, resolution) if up else None
        if noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.noise = noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = lrelu_agc(self.conv1(x))
        if self.downsample is not None:
            x = self.downsample(x)
        x = self.conv2(x)
        if self.upsample is not None:
            x = self.upsample(x)
        if self.noise:
            x = x + self.noise_const * self.noise_strength
        return lrelu_agc(x)


class EncoderBlock(nn.Module):
    """Two separable convs; the second halves the resolution except in the 4x4 block. The
    first block also reads the 4-channel input through ``fromrgb``. Returns (output, skip feature)."""

    def __init__(self, cin: int, cout: int, rgb: int | None = None, down: bool = True):
        super().__init__()
        self.fromrgb = nn.Conv2d(rgb, cin, 1) if rgb is not None else None
        self.conv1 = SeparableConv2d(cin, cin)
        self.conv2 = SeparableConv2d(cin, cout, down=down)

    def forward(self, x: torch.Tensor | None, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fromrgb is not None:
            y = lrelu_agc(self.fromrgb(image))
            x = y if x is None else x + y
        feature = self.conv1(x)
        return self.conv2(feature), feature


class Encoder(nn.Module):
    def __init__(self, resolution: int, in_channels: int = 4):
        super().__init__()
        self.levels = [2**i for i in range(int(math.log2(resolution)), 2, -1)]  # R .. 8
        for index, res in enumerate(self.levels):
            rgb = in_channels if index == 0 else None
            self.add_module(f"b{res}", EncoderBlock(channels(res), channels(res // 2), rgb))
        self.b4 = EncoderBlock(channels(4), channels(4), down=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        x, features = None, {}
        for res in [*self.levels, 4]:
            x, features[res] = getattr(self, f"b{res}")(x, image)
        return x, features


class SynthesisBlockFirst(nn.Module):
    def __init__(self, ch: int, rgb: int = 3):
        super().__init__()
        self.conv1 = SeparableConv2d(ch, ch)
        self.conv2 = SeparableConv2d(ch, ch)
        self.torgb = nn.Conv2d(ch, rgb, 1)

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv2(self.conv1(x) + feature)
        return x, self.torgb(x)


class SynthesisBlock(nn.Module):
    """Double the resolution, add the encoder's skip feature, and add this level's RGB to the upsampled image."""

    def __init__(self, cin: int, cout: int, resolution: int, rgb: int = 3):
        super().__init__()
        self.conv1 = SeparableConv2d(cin, cout, resolution, up=True, noise=True)
        self.conv2 = SeparableConv2d(cout, cout, resolution, noise=True)
        self.torgb = nn.Conv2d(cout, rgb, 1)
        self.upsample = Upsample2d(rgb, resolution)

    def forward(self, x: torch.Tensor, feature: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv2(self.conv1(x) + feature)
        return x, self.upsample(image) + self.torgb(x)


class Synthesis(nn.Module):
    def __init__(self, resolution: int):
        super().__init__()
        self.levels = [2**i for i in range(3, int(math.log2(resolution)) + 1)]  # 8 .. R
        self.b4 = SynthesisBlockFirst(channels(4))
        for res in self.levels:
            self.add_module(f"b{res}", SynthesisBlock(channels(res // 2), channels(res), res))

    def forward(self, x: torch.Tensor, features: dict[int, torch.Tensor]) -> torch.Tensor:
        x, image = self.b4(x, features[4])
        for res in self.levels:
            x, image = getattr(self, f"b{res}")(x, features[res], image)
        return image


class MIGANGenerator(nn.Module):
    """Input [B,4,R,R] = cat(known - 0.5, image_in_[-1,1] * known); output RGB [B,3,R,R], roughly in [-1,1]."""

    def __init__(self, resolution: int = 256):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"MI-GAN's resolution must be a power of two >= 8, got {resolution}")
        self.resolution = resolution
        self.synthesis = Synthesis(resolution)
        self.encoder = Encoder(resolution)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, features = self.encoder(x)
        return self.synthesis(x, features)
