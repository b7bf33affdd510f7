"""MAT's generator (Li et al., CVPR 2022), module for module as ``networks/mat.py`` and
``networks/basic_module.py`` of fenglinglwb/MAT (commit d273d89) build it, so that the official
state dict loads by key name.

Written anew from the official code (CC BY-NC 4.0; its StyleGAN2-ADA ops carry NVIDIA's terms),
with the ops in their pure-torch reference form (baselines/stylegan_ops.py). Only the generator's
inference path is here: no discriminator, no training-time branches. Behaviour that looks odd but
is official and kept on purpose:

* dropout with ``training=True`` in both stages, whatever ``eval()`` says (draws from torch's RNG);
* the shifted-window attention mask is recomputed at every forward (the official comparison of a
  list with a size is never true), so the stored ``attn_mask`` buffers are loaded but never read;
* the transformer blocks have no residual around attention or MLP; fractional partial-conv masks
  are added to attention logits as they are.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from baselines.stylegan_ops import bias_act, conv2d_resample, setup_filter, upsample2d

#: Channels per feature resolution (``nf`` of networks/mat.py: a fixed table, not channel_base).
CHANNELS = {512: 64, 256: 128, 128: 256, 64: 512, 32: 512, 16: 512, 8: 512, 4: 512}
FILTER = (1, 3, 3, 1)
#: First stage: width, heads, per-layer depth / scale change / window of the 64 -> 16 -> 64 transformer.
DIM, HEADS = 180, 6
DEPTHS, RATIOS, WINDOWS = (2, 3, 4, 3, 2), (1, 0.5, 0.5, 2, 2), (8, 16, 16, 16, 8)
NOISE_MODES = ("random", "const", "none")


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer; the activation's gain is applied after the bias."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.activation = activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        x = x.matmul((self.weight * self.weight_gain).t())
        if self.activation == "linear":
            return x + bias.reshape([1] * (x.ndim - 1) + [-1])
        return bias_act(x, bias, dim=x.ndim - 1, act=self.activation)


class Conv2dLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: str = "linear",
                 up: int = 1, down: int = 1):
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(FILTER))
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.activation, self.up, self.down, self.padding = activation, up, down, kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv2d_resample(x, self.weight * self.weight_gain, self.resample_filter, self.up, self.down, self.padding)
        return bias_act(x, self.bias, act=self.activation)


class Conv2dLayerPartial(nn.Module):
    """A conv whose output is rescaled by how much of its window was known; the mask is propagated."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: str = "linear",
                 up: int = 1, down: int = 1):
        super().__init__()
        self.conv = Conv2dLayer(in_channels, out_channels, kernel_size, activation, up, down)
        self.kernel_size, self.stride = kernel_size, down

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if mask is None:
            return self.conv(x), None
        ones = torch.ones(1, 1, self.kernel_size, self.kernel_size, dtype=mask.dtype, device=mask.device)
        known = F.conv2d(mask, ones, stride=self.stride, padding=self.kernel_size // 2)
        ratio = self.kernel_size ** 2 / (known + 1e-8)
        known = known.clamp(0, 1)
        return self.conv(x) * (ratio * known), known


class ModulatedConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 up: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("resample_filter", setup_filter(FILTER))
        self.affine = FullyConnectedLayer(style_dim, in_channels)
        self.demodulate, self.up, self.padding = demodulate, up, kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channels, height, width = x.shape
        _, out_channels, _, kh, kw = self.weight.shape
        weight = self.weight * self.weight_gain * self.affine(style).view(batch, 1, in_channels, 1, 1)
        if self.demodulate:
            weight = weight * (weight.pow(2).sum(dim=[2, 3, 4]) + 1e-8).rsqrt().view(batch, out_channels, 1, 1, 1)
        x = conv2d_resample(x.view(1, batch * in_channels, height, width),
                            weight.view(batch * out_channels, in_channels, kh, kw),
                            self.resample_filter, up=self.up, padding=self.padding, groups=batch)
        return x.view(batch, out_channels, *x.shape[2:])


class StyleConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, resolution: int, up: int = 1,
                 use_noise: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, up=up)
        self.use_noise = use_noise
        if use_noise:
            self.register_buffer("noise_const", torch.zeros(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self.conv(x, style)
        if self.use_noise and noise_mode == "random":
            x = x + torch.randn([x.shape[0], 1, *x.shape[-2:]], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return bias_act(x, self.bias, act="lrelu")


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, style_dim: int, out_channels: int = 3):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", setup_filter(FILTER))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = bias_act(self.conv(x, style), self.bias)
        if skip is None:
            return out
        if skip.shape != out.shape:
            skip = upsample2d(skip, self.resample_filter)
        return out + skip


def token2feature(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    batch, _, channels = x.shape
    return x.permute(0, 2, 1).reshape(batch, channels, *size)


def feature2token(x: torch.Tensor) -> torch.Tensor:
    batch, channels = x.shape[:2]
    return x.view(batch, channels, -1).transpose(1, 2)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * windows, window, window, C], windows in row-major order."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window, window, channels)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    batch = int(windows.shape[0] / (height * width / window / window))
    x = windows.view(batch, height // window, width // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(batch, height, width, -1)


class Mlp(nn.Module):
    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.fc1 = FullyConnectedLayer(features, hidden, activation="lrelu")
        self.fc2 = FullyConnectedLayer(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


class WindowAttention(nn.Module):
    """Multi-head attention inside windows; queries and keys from the L2-normalised tokens.

    Keys of unknown tokens get -100 added to their logits; afterwards every token of a window
    with at least one known token counts as known.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q, self.k, self.v, self.proj = (FullyConnectedLayer(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor, mask_windows: torch.Tensor | None, shift_mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        windows, tokens, channels = x.shape
        heads = self.num_heads
        normed = F.normalize(x, p=2.0, dim=-1)
        q = self.q(normed).reshape(windows, tokens, heads, channels // heads).permute(0, 2, 1, 3)
        k = self.k(normed).view(windows, -1, heads, channels // heads).permute(0, 2, 3, 1)
        v = self.v(x).view(windows, -1, heads, channels // heads).permute(0, 2, 1, 3)
        attn = (q @ k) * self.scale
        if shift_mask is not None:
            count = shift_mask.shape[0]
            attn = attn.view(windows // count, count, heads, tokens, tokens) + shift_mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, tokens, tokens)
        if mask_windows is not None:
            keys = mask_windows.squeeze(-1).unsqueeze(1).unsqueeze(1)
            attn = attn + keys.masked_fill(keys == 0, -100.0).masked_fill(keys == 1, 0.0)
            mask_windows = mask_windows.sum(dim=1, keepdim=True).clamp(0, 1).repeat(1, tokens, 1)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(windows, tokens, channels)
        return self.proj(x), mask_windows


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, num_heads: int, window: int, shift: int, mlp_ratio: float = 2.0):
        super().__init__()
        if resolution <= window:  # one window covers the map: no partition, no shift
            window, shift = resolution, 0
        self.window, self.shift = window, shift
        self.attn = WindowAttention(dim, num_heads)
        self.fuse = FullyConnectedLayer(dim * 2, dim, activation="lrelu")
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", self.shift_mask(resolution, resolution) if shift else None)

    def shift_mask(self, height: int, width: int) -> torch.Tensor:
        """-100 between tokens of a shifted window that come from different regions of the map."""
        window, shift = self.window, self.shift
        regions = torch.zeros(1, height, width, 1)
        bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        for index, (rows, cols) in enumerate((r, c) for r in bounds for c in bounds):
            regions[:, rows, cols, :] = index
        regions = window_partition(regions, window).view(-1, window * window)
        differ = regions.unsqueeze(1) - regions.unsqueeze(2)
        return differ.masked_fill(differ != 0, -100.0).masked_fill(differ == 0, 0.0)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        height, width = size
        batch, _, channels = x.shape
        window, shift = self.window, self.shift
        shortcut = x
        x = x.view(batch, height, width, channels)
        mask = mask.view(batch, height, width, 1) if mask is not None else None
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = torch.roll(mask, shifts=(-shift, -shift), dims=(1, 2)) if mask is not None else None
        x_windows = window_partition(x, window).view(-1, window * window, channels)
        mask_windows = window_partition(mask, window).view(-1, window * window, 1) if mask is not None else None
        shift_mask = self.shift_mask(height, width).to(x.device) if shift else None
        attn, mask_windows = self.attn(x_windows, mask_windows, shift_mask)
        x = window_reverse(attn.view(-1, window, window, channels), window, height, width)
        if mask is not None:
            mask = window_reverse(mask_windows.view(-1, window, window, 1), window, height, width)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
            mask = torch.roll(mask, shifts=(shift, shift), dims=(1, 2)) if mask is not None else None
        x = x.view(batch, height * width, channels)
        mask = mask.view(batch, height * width, 1) if mask is not None else None
        return self.mlp(self.fuse(torch.cat([shortcut, x], dim=-1))), mask


class PatchMerging(nn.Module):
    """Partial 3x3 conv with stride 2 (``PatchMerging``) or 2x upsampling (``PatchUpsampling``) on tokens."""

    def __init__(self, dim: int, up: int = 1, down: int = 1):
        super().__init__()
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation="lrelu", up=up, down=down)
        self.scale = up / down

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor | None]:
        x, mask = self.conv(token2feature(x, size), token2feature(mask, size) if mask is not None else None)
        size = (int(size[0] * self.scale), int(size[1] * self.scale))
        return feature2token(x), size, feature2token(mask) if mask is not None else None


class BasicLayer(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, window: int, downsample: PatchMerging | None):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, resolution, HEADS, window, 0 if i % 2 == 0 else window // 2) for i in range(depth)
        )
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation="lrelu")

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor | None
                ) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor | None]:
        if self.downsample is not None:
            x, size, mask = self.downsample(x, size, mask)
        identity = x
        for block in self.blocks:
            x, mask = block(x, size, mask)
        x, mask = self.conv(token2feature(x, size), token2feature(mask, size) if mask is not None else None)
        return feature2token(x) + identity, size, feature2token(mask) if mask is not None else None


class DecStyleBlock(nn.Module):
    """First-stage decoder block: one global style for both convs and the RGB head, no noise."""

    def __init__(self, resolution: int, dim: int, style_dim: int):
        super().__init__()
        self.conv0 = StyleConv(dim, dim, style_dim, resolution, up=2, use_noise=False)
        self.conv1 = StyleConv(dim, dim, style_dim, resolution, use_noise=False)
        self.toRGB = ToRGB(dim, style_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, style: torch.Tensor, skip: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv0(x, style, noise_mode) + skip
        x = self.conv1(x, style, noise_mode)
        return x, self.toRGB(x, style, skip=img)


class FirstStage(nn.Module):
    """Coarse stage: partial convs down to 64x64, the mask-aware transformer 64 -> 16 -> 64, style decoder up."""

    def __init__(self, resolution: int, w_dim: int = 512, dim: int = DIM):
        super().__init__()
        self.conv_first = Conv2dLayerPartial(4, dim, 3, activation="lrelu")
        steps = int(math.log2(resolution // 64))
        self.enc_conv = nn.ModuleList(Conv2dLayerPartial(dim, dim, 3, activation="lrelu", down=2) for _ in range(steps))
        self.tran = nn.ModuleList()
        res = 64
        for depth, ratio, window in zip(DEPTHS, RATIOS, WINDOWS):
            res = int(res * ratio)
            merge = (PatchMerging(dim, down=int(1 / ratio)) if ratio < 1
                     else PatchMerging(dim, up=int(ratio)) if ratio > 1 else None)
            self.tran.append(BasicLayer(dim, res, depth, window, merge))
        self.down_conv = nn.Sequential(*(Conv2dLayer(dim, dim, 3, activation="lrelu", down=2) for _ in range(4)),
                                       nn.AdaptiveAvgPool2d((1, 1)))
        self.to_style = FullyConnectedLayer(dim, dim * 2, activation="lrelu")
        self.ws_style = FullyConnectedLayer(w_dim, dim, activation="lrelu")
        self.to_square = FullyConnectedLayer(dim, 16 * 16, activation="lrelu")
        self.dec_conv = nn.ModuleList(DecStyleBlock(res * 2 ** (i + 1), dim, dim * 3) for i in range(steps))

    def forward(self, images: torch.Tensor, masks: torch.Tensor, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x, mask = self.conv_first(torch.cat([masks - 0.5, images * masks], dim=1), masks)
        skips = [x]
        for i, block in enumerate(self.enc_conv):
            x, mask = block(x, mask)
            if i != len(self.enc_conv) - 1:
                skips.append(x)
        size = tuple(x.shape[-2:])
        x, mask = feature2token(x), feature2token(mask)
        mid = len(self.tran) // 2
        for i, block in enumerate(self.tran):
            if i < mid:
                x, size, mask = block(x, size, mask)
                skips.append(x)
            elif i > mid:
                x, size, _ = block(x, size, None)
                x = x + skips[mid - i]
            else:
                x, size, _ = block(x, size, None)
                keep = F.dropout(torch.ones_like(x) * 0.5, training=True)  # official: at test time too
                w = self.ws_style(ws[:, -1])
                fill = F.interpolate(self.to_square(w).unsqueeze(1), size=x.size(1), mode="linear",
                                     align_corners=False).squeeze(1).unsqueeze(-1)
                x = x * keep + fill * (1 - keep)
                style = torch.cat([self.to_style(self.down_conv(token2feature(x, size)).flatten(start_dim=1)), w], dim=1)
        x = token2feature(x, size).contiguous()
        img = None
        for i, block in enumerate(self.dec_conv):
            x, img = block(x, img, style, skips[len(self.dec_conv) - i - 1], noise_mode)
        return img * (1 - masks) + images * masks


class EncBlock(nn.Module):
    """Second-stage encoder block: ``EncFromRGB`` (1x1 then 3x3) at full size, ``ConvBlockDown`` (3x3 stride 2, 3x3) below."""

    def __init__(self, in_channels: int, out_channels: int, first: bool):
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, out_channels, 1 if first else 3, activation="lrelu", down=1 if first else 2)
        self.conv1 = Conv2dLayer(out_channels, out_channels, 3, activation="lrelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(x))


class Encoder(nn.Module):
    def __init__(self, log2_res: int, channels: Mapping[int, int]):
        super().__init__()
        self.log2_sizes = list(range(log2_res, 3, -1))  # input size down to 16x16
        for i in self.log2_sizes:
            first = i == log2_res
            in_channels = 7 if first else channels[2 ** (i + 1)]
            self.add_module(f"EncConv_Block_{2 ** i}x{2 ** i}", EncBlock(in_channels, channels[2 ** i], first))

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        features = {}
        for i in self.log2_sizes:
            x = features[i] = getattr(self, f"EncConv_Block_{2 ** i}x{2 ** i}")(x)
        return features


class ToStyle(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(*(Conv2dLayer(in_channels, in_channels, 3, activation="lrelu", down=2) for _ in range(3)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = FullyConnectedLayer(in_channels, out_channels, activation="lrelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(start_dim=1))


class DecBlock(nn.Module):
    """Second-stage decoder block at 2**res; ``first`` is ``DecBlockFirstV2`` at 16x16 (plain conv, no upsampling)."""

    def __init__(self, res: int, in_channels: int, out_channels: int, style_dim: int, first: bool = False):
        super().__init__()
        self.res, self.first = res, first
        if first:
            self.conv0 = Conv2dLayer(in_channels, in_channels, 3, activation="lrelu")
        else:
            self.conv0 = StyleConv(in_channels, out_channels, style_dim, 2 ** res, up=2)
        self.conv1 = StyleConv(out_channels if not first else in_channels, out_channels, style_dim, 2 ** res)
        self.toRGB = ToRGB(out_channels, style_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, ws: torch.Tensor, gs: torch.Tensor,
                features: dict[int, torch.Tensor], noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first:
            x = self.conv0(x) + features[self.res]
            x = self.conv1(x, torch.cat([ws[:, 0], gs], dim=1), noise_mode)
            return x, self.toRGB(x, torch.cat([ws[:, 1], gs], dim=1))
        base = self.res * 2 - 9
        x = self.conv0(x, torch.cat([ws[:, base], gs], dim=1), noise_mode) + features[self.res]
        x = self.conv1(x, torch.cat([ws[:, base + 1], gs], dim=1), noise_mode)
        return x, self.toRGB(x, torch.cat([ws[:, base + 2], gs], dim=1), skip=img)


class Decoder(nn.Module):
    def __init__(self, log2_res: int, style_dim: int, channels: Mapping[int, int]):
        super().__init__()
        self.Dec_16x16 = DecBlock(4, channels[16], channels[16], style_dim, first=True)
        self.log2_res = log2_res
        for res in range(5, log2_res + 1):
            block = DecBlock(res, channels[2 ** (res - 1)], channels[2 ** res], style_dim)
            self.add_module(f"Dec_{2 ** res}x{2 ** res}", block)

    def forward(self, x: torch.Tensor, ws: torch.Tensor, gs: torch.Tensor, features: dict[int, torch.Tensor],
                noise_mode: str) -> torch.Tensor:
        img = None
        for res in range(4, self.log2_res + 1):
            x, img = getattr(self, f"Dec_{2 ** res}x{2 ** res}")(x, img, ws, gs, features, noise_mode)
        return img


class SynthesisNet(nn.Module):
    def __init__(self, resolution: int, channels: Mapping[int, int], dim: int, w_dim: int = 512):
        super().__init__()
        log2_res = int(math.log2(resolution))
        self.num_layers = log2_res * 2 - 6
        self.first_stage = FirstStage(resolution, w_dim, dim)
        self.enc = Encoder(log2_res, channels)
        self.to_square = FullyConnectedLayer(w_dim, 16 * 16, activation="lrelu")
        self.to_style = ToStyle(channels[16], channels[4] * 2)
        self.dec = Decoder(log2_res, w_dim + channels[4] * 2, channels)

    def forward(self, images: torch.Tensor, masks: torch.Tensor, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        coarse = self.first_stage(images, masks, ws, noise_mode)
        x = images * masks + coarse * (1 - masks)
        features = self.enc(torch.cat([masks - 0.5, x, images * masks], dim=1))
        fea_16 = features[4]
        keep = F.dropout(torch.ones_like(fea_16) * 0.5, training=True)  # official: at test time too
        fill = F.interpolate(self.to_square(ws[:, 0]).view(-1, 16, 16).unsqueeze(1), size=fea_16.shape[-2:],
                             mode="bilinear", align_corners=False)
        fea_16 = features[4] = fea_16 * keep + fill * (1 - keep)
        img = self.dec(fea_16, ws, self.to_style(fea_16), features, noise_mode)
        return img * (1 - masks) + images * masks


class MappingNet(nn.Module):
    """z (normalised to unit second moment) through 8 leaky-ReLU layers at lr multiplier 0.01, broadcast to num_ws."""

    def __init__(self, num_ws: int, z_dim: int = 512, w_dim: int = 512, num_layers: int = 8):
        super().__init__()
        self.num_ws, self.num_layers = num_ws, num_layers
        for i in range(num_layers):
            self.add_module(f"fc{i}", FullyConnectedLayer(z_dim if i == 0 else w_dim, w_dim, "lrelu", lr_multiplier=0.01))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.to(torch.float32)
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x.unsqueeze(1).repeat([1, self.num_ws, 1])


class Generator(nn.Module):
    """``Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution, img_channels=3)`` as generate_image.py builds it.

    ``channels`` and ``dim`` exist only so that tests can run the same graph at reduced widths;
    the official constructor fixes them (released weights always use the defaults).

    ``forward`` is the official call with ``c`` empty and truncation 1 (the only values the
    harness uses): the truncation and label branches are not implemented.
    """

    def __init__(self, resolution: int, channels: Mapping[int, int] = CHANNELS, dim: int = DIM):
        super().__init__()
        if resolution < 128 or resolution & (resolution - 1):
            raise ValueError(f"MAT needs a power-of-two resolution of at least 128, got {resolution}")
        self.resolution = resolution
        self.synthesis = SynthesisNet(resolution, channels, dim)
        self.mapping = MappingNet(self.synthesis.num_layers)

    def forward(self, images: torch.Tensor, masks: torch.Tensor, z: torch.Tensor, noise_mode: str = "random"
                ) -> torch.Tensor:
        """images in [-1, 1], masks 1 = known, z [B, 512]; output in about [-1, 1], known pixels pasted back."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        return self.synthesis(images, masks, self.mapping(z), noise_mode)
