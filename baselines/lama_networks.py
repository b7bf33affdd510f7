"""big-LaMa's generator (Suvorov et al., WACV 2022): ``FFCResNetGenerator`` of advimman/lama.

Module names and ``model.<i>`` indices follow ``saicinpainting/training/modules/ffc.py`` at
commit 786f593 with the big-lama configuration (``configs/training/big-lama.yaml``): 4 input
channels, ngf 64, 3 downsamplings, 18 FFC ResNet blocks with ratio_gin = ratio_gout = 0.75, no
LFU, reflect padding, BatchNorm, sigmoid output; 989 state_dict tensors. Branches that upstream
fills with ``nn.Identity`` (no weights) are simply absent here, which leaves the key set unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn

#: A feature map split into its local and global (spectral) channels; 0 where a part is absent.
Split = tuple[torch.Tensor, torch.Tensor | int]


class FourierUnit(nn.Module):
    """1x1 conv + BN + ReLU on the real/imaginary parts of ``rfftn(norm='ortho')``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv_layer = nn.Conv2d(channels * 2, channels * 2, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(channels * 2)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        spectrum = torch.view_as_real(torch.fft.rfftn(x, dim=(-2, -1), norm="ortho"))  # B,C,H,W/2+1,2
        spectrum = spectrum.permute(0, 1, 4, 2, 3).reshape(batch, channels * 2, height, -1)  # re/im per channel
        spectrum = self.relu(self.bn(self.conv_layer(spectrum)))
        spectrum = spectrum.view(batch, channels, 2, height, -1).permute(0, 1, 3, 4, 2).contiguous()
        return torch.fft.irfftn(torch.view_as_complex(spectrum), s=(height, width), dim=(-2, -1), norm="ortho")


class SpectralTransform(nn.Module):
    """Global-to-global branch: halve channels, Fourier unit with a residual, restore channels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        hidden = out_channels // 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True)
        )
        self.fu = FourierUnit(hidden)
        self.conv2 = nn.Conv2d(hidden, out_channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """Fast Fourier convolution: local<->global cross terms by spatial convs, global->global spectral."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, ratio_gin: float, ratio_gout: float,
                 stride: int = 1, padding: int = 0):
        super().__init__()
        in_g, out_g = int(in_channels * ratio_gin), int(out_channels * ratio_gout)
        in_l, out_l = in_channels - in_g, out_channels - out_g

        def conv(cin: int, cout: int) -> nn.Conv2d | None:
            if not cin or not cout:
                return None
            return nn.Conv2d(cin, cout, kernel_size, stride, padding, bias=False, padding_mode="reflect")

        self.convl2l, self.convl2g, self.convg2l = conv(in_l, out_l), conv(in_l, out_g), conv(in_g, out_l)
        self.convg2g = SpectralTransform(in_g, out_g) if in_g and out_g else None

    @staticmethod
    def _branch(layer: nn.Module | None, x: torch.Tensor | int) -> torch.Tensor | int:
        return 0 if layer is None or isinstance(x, int) else layer(x)

    def forward(self, x: Split | torch.Tensor) -> Split:
        x_l, x_g = x if isinstance(x, tuple) else (x, 0)  # the first layer gets a plain tensor
        out_l = self._branch(self.convl2l, x_l) + self._branch(self.convg2l, x_g)
        out_g = self._branch(self.convl2g, x_l) + self._branch(self.convg2g, x_g)
        return out_l, out_g


class FFC_BN_ACT(nn.Module):
    """FFC, then BatchNorm and ReLU on each part that exists."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, ratio_gin: float, ratio_gout: float,
                 stride: int = 1, padding: int = 0):
        super().__init__()
        self.ffc = FFC(in_channels, out_channels, kernel_size, ratio_gin, ratio_gout, stride, padding)
        out_g = int(out_channels * ratio_gout)
        self.bn_l = nn.BatchNorm2d(out_channels - out_g) if out_channels - out_g else None
        self.bn_g = nn.BatchNorm2d(out_g) if out_g else None

    def forward(self, x: Split | torch.Tensor) -> Split:
        x_l, x_g = self.ffc(x)
        return tuple(x if bn is None else torch.relu(bn(x)) for bn, x in ((self.bn_l, x_l), (self.bn_g, x_g)))


class FFCResnetBlock(nn.Module):
    def __init__(self, channels: int, ratio: float):
        super().__init__()
        self.conv1 = FFC_BN_ACT(channels, channels, 3, ratio, ratio, padding=1)
        self.conv2 = FFC_BN_ACT(channels, channels, 3, ratio, ratio, padding=1)

    def forward(self, x: Split) -> Split:
        out_l, out_g = self.conv2(self.conv1(x))
        return x[0] + out_l, x[1] + out_g


class ConcatTupleLayer(nn.Module):
    def forward(self, x: Split) -> torch.Tensor:
        return torch.cat(x, dim=1)


class FFCResNetGenerator(nn.Module):
    """big-lama: input [image * (1 - mask), mask] in [0,1], output RGB in [0,1] (sigmoid)."""

    def __init__(self, input_nc: int = 4, output_nc: int = 3, ngf: int = 64, n_downsampling: int = 3,
                 n_blocks: int = 18, ratio: float = 0.75):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), FFC_BN_ACT(input_nc, ngf, 7, 0, 0)]
        for i in range(n_downsampling):
            ratio_gout = ratio if i == n_downsampling - 1 else 0
            layers.append(FFC_BN_ACT(ngf * 2**i, ngf * 2 ** (i + 1), 3, 0, ratio_gout, stride=2, padding=1))
        bottleneck = ngf * 2**n_downsampling
        layers += [FFCResnetBlock(bottleneck, ratio) for _ in range(n_blocks)]
        layers.append(ConcatTupleLayer())
        for i in range(n_downsampling):
            channels = bottleneck // 2**i
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Sigmoid()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
