"""CTSDG's generator (Guo, Yang, Huang, ICCV 2021; xiefan-guo/ctsdg ``models/generator/``).

Attribute names follow the official modules so the released ``{'n_iter', 'generator',
'discriminator'}`` checkpoints load with ``strict=True`` (210 tensors, BN statistics included;
the partial convolutions' all-ones mask kernel is not part of the state_dict upstream either).
The projection heads only feed training losses; they are built so that loading stays strict
but are not run. Masks are 1 = valid, images in [-1,1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PartialConv2d(nn.Conv2d):
    """NVIDIA's multi-channel partial convolution without bias (the only kind CTSDG uses).

    Upstream convolves the mask with an all-ones ``[out, in, k, k]`` kernel; convolving the
    channel sum with a ``[1, 1, k, k]`` kernel gives the same integer counts at a fraction of
    the cost (every mask here is binary, so the counts are exact in float32).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.slide_winsize = float(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            ones = mask.new_ones(1, 1, *self.kernel_size)
            counts = F.conv2d(mask.sum(1, keepdim=True), ones, stride=self.stride, padding=self.padding)
            update_mask = counts.clamp(0, 1)
            mask_ratio = self.slide_winsize / (counts + 1e-8) * update_mask
        out = F.conv2d(x * mask, self.weight, None, self.stride, self.padding) * mask_ratio
        return out, update_mask.expand(-1, self.out_channels, -1, -1)


class PConvBNActiv(nn.Module):
    """Partial conv, optional BatchNorm, ReLU or LeakyReLU(0.2). ``kernel`` > 3 or ``down`` means stride 2."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int = 3, down: bool = False, bn: bool = True, leaky: bool = False
    ):
        super().__init__()
        self.conv = PartialConv2d(in_channels, out_channels, kernel, stride=2 if down else 1, padding=kernel // 2)
        if bn:
            self.bn = nn.BatchNorm2d(out_channels)
        self.activation = nn.LeakyReLU(0.2) if leaky else nn.ReLU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, mask = self.conv(x, mask)
        if hasattr(self, "bn"):
            x = self.bn(x)
        return self.activation(x), mask


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int = 64, planes: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, inplanes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(inplanes)


class Projection(nn.Module):
    """``Feature2Texture`` / ``Feature2Structure``: held for strict loading only (training losses)."""

    def __init__(self, kind: str, out_channels: int):
        super().__init__()
        self.add_module(f"{kind}_resolver", Bottleneck())
        self.out_layer = nn.Sequential(nn.Conv2d(64, out_channels, 1))


class BiGFF(nn.Module):
    """Bi-directional gated feature fusion; the structure update sees the *updated* texture."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.structure_gate = nn.Sequential(nn.Conv2d(2 * channels, channels, 3, padding=1), nn.Sigmoid())
        self.texture_gate = nn.Sequential(nn.Conv2d(2 * channels, channels, 3, padding=1), nn.Sigmoid())
        self.structure_gamma = nn.Parameter(torch.zeros(1))
        self.texture_gamma = nn.Parameter(torch.zeros(1))

    def forward(self, texture: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        energy = torch.cat((texture, structure), dim=1)
        structure_to_texture = self.structure_gate(energy)
        texture_to_structure = self.texture_gate(energy)
        texture = texture + self.texture_gamma * (structure_to_texture * structure)
        structure = structure + self.structure_gamma * (texture_to_structure * texture)
        return torch.cat((texture, structure), dim=1)


def extract_patches(x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, L, C, k, k] patches of the input zero-padded by 1, row-major over L."""
    x = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)
    patches = x.unfold(1, kernel_size, stride).unfold(2, kernel_size, stride)
    return patches.reshape(x.shape[0], -1, x.shape[3], kernel_size, kernel_size)


class RAL(nn.Module):
    """Region affinity learning: patch attention at half resolution, pasting 4x4 patches back.

    Upstream loops over the batch with one conv per image; grouped convolutions (one group
    per image) compute the same per-image operations in one call.
    """

    def __init__(self, kernel_size: int = 3, rate: int = 2, softmax_scale: float = 10.0):
        super().__init__()
        self.kernel_size, self.rate, self.softmax_scale = kernel_size, rate, softmax_scale

    def forward(self, background: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
        foreground = F.interpolate(foreground, scale_factor=1.0 / self.rate, mode="bilinear", align_corners=True)
        batch, _, height, width = foreground.shape
        paste = extract_patches(background, 2 * self.rate, self.rate).flatten(0, 1)
        query = extract_patches(foreground, self.kernel_size, 1).flatten(0, 1)
        norms = query.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-4)
        scores = F.conv2d(foreground.reshape(1, -1, height, width), query / norms, padding=1, groups=batch)
        attention = F.softmax(scores.view(batch, -1, height, width) * self.softmax_scale, dim=1).clamp(min=1e-8)
        attention = attention.view(1, -1, height, width)
        out = F.conv_transpose2d(attention, paste, stride=self.rate, padding=1, groups=batch) / 4.0
        return out.view(background.shape)


class MSFA(nn.Module):
    """Multi-scale feature aggregation: 4 dilated branches mixed by a per-pixel softmax."""

    def __init__(self, channels: int = 64, dilations: tuple[int, ...] = (1, 2, 4, 8)):
        super().__init__()
        self.dilations = dilations
        for index, rate in enumerate(dilations):
            branch = nn.Sequential(nn.Conv2d(channels, channels, 3, dilation=rate, padding=rate), nn.ReLU())
            self.add_module(f"dilated_conv_{index}", branch)
        self.weight_calc = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, len(dilations), 1),
            nn.ReLU(),
            nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weight_calc(x)
        branches = (getattr(self, f"dilated_conv_{i}")(x) for i in range(len(self.dilations)))
        return sum(weights[:, i : i + 1] * branch for i, branch in enumerate(branches))


class CFA(nn.Module):
    """Contextual feature aggregation (RAL then MSFA)."""

    def __init__(self) -> None:
        super().__init__()
        self.ral = RAL()
        self.msfa = MSFA()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.msfa(self.ral(x, x))


#: Kernel of encoder levels 1..7 (all stride 2) and the width after each level.
_KERNELS = (7, 5, 5, 3, 3, 3, 3)
_WIDTHS = (64, 128, 256, 512, 512, 512, 512)


class CTSDGGenerator(nn.Module):
    """Two 7-level partial-conv U-Nets whose decoders cross over, then Bi-GFF and CFA.

    H and W must be multiples of 128. ``forward`` returns the tanh output in [-1,1].
    """

    def __init__(self, image_channels: int = 3, structure_channels: int = 2, out_channels: int = 3):
        super().__init__()
        for branch, in_channels in (("texture", image_channels), ("structure", structure_channels)):
            widths = (in_channels, *_WIDTHS)  # widths[level]: channels after encoder level (0 = input)
            for level in range(1, 8):
                layer = PConvBNActiv(widths[level - 1], widths[level], _KERNELS[level - 1], down=True, bn=level > 1)
                self.add_module(f"ec_{branch}_{level}", layer)
            for level in range(7, 0, -1):
                # upsampled features (widths[level]) + skip from encoder level - 1
                out = widths[level - 1] if level > 1 else 64
                self.add_module(f"dc_{branch}_{level}", PConvBNActiv(widths[level] + widths[level - 1], out, leaky=True))
        self.structure_feature_projection = Projection("structure", 1)
        self.texture_feature_projection = Projection("texture", 3)
        self.bigff = BiGFF(64)
        self.fusion_layer1 = nn.Sequential(nn.Conv2d(128, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.cfa = CFA()
        self.fusion_layer2 = nn.Sequential(nn.Conv2d(128, 64, 3, padding=1), nn.LeakyReLU(0.2))
        self.out_layer = nn.Sequential(nn.Conv2d(192, out_channels, 1), nn.Tanh())

    def _encode(self, branch: str, x: torch.Tensor, mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        levels = [(x, mask)]
        for level in range(1, 8):
            levels.append(getattr(self, f"ec_{branch}_{level}")(*levels[-1]))
        return levels

    def _decode(self, branch: str, start: tuple[torch.Tensor, torch.Tensor], skips: list) -> torch.Tensor:
        x, mask = start
        for level in range(7, 0, -1):
            x = F.interpolate(x, scale_factor=2, mode="bilinear")
            mask = F.interpolate(mask, scale_factor=2, mode="nearest")
            skip_x, skip_mask = skips[level - 1]
            x, mask = getattr(self, f"dc_{branch}_{level}")(torch.cat((x, skip_x), 1), torch.cat((mask, skip_mask), 1))
        return x

    def forward(self, image: torch.Tensor, structure: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """image [B,3,H,W] (holes 0), structure = cat(edges, gray) [B,2,H,W] (holes 0), mask [B,1,H,W] 1 = valid."""
        textures = self._encode("texture", image, mask.expand(-1, image.shape[1], -1, -1))
        structures = self._encode("structure", structure, mask.expand(-1, structure.shape[1], -1, -1))
        # cross-over: each decoder starts from the other branch's bottleneck
        texture = self._decode("texture", structures[7], textures)
        structure = self._decode("structure", textures[7], structures)
        fused = self.bigff(texture, structure)
        x = self.fusion_layer1(fused)
        x = self.fusion_layer2(torch.cat((x, self.cfa(x)), dim=1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear")
        return self.out_layer(torch.cat((x, fused), dim=1))
