"""StructureFlow's generators (Ren et al. ICCV 2019, RenYurui/StructureFlow ``src/network.py``).

Module names follow the official classes so that ``latest_net_s_gen.pth`` (92 tensors, 36.06 M
parameters) and ``latest_net_f_gen.pth`` (137 tensors, 56.47 M) load with ``strict=True``.
Settings are the official ``src/models.py`` ones: s_gen ``dim 64, n_res 4, relu, in, reflect``
with spectral norm on its 9 encoder/decoder convs (stored ``weight_orig/weight_u/weight_v``;
in eval mode the stored u, v are used without power iteration); f_gen ``dim 64, n_res 2, relu,
reflect``, no spectral norm, InstanceNorm in the flow column and the custom LayerNorm in the
conv column. The CUDA ``resample2d`` extension is replaced by :func:`resample2d` in plain torch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def resample2d(features: torch.Tensor, flow: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Gaussian-window sampling of ``features`` at ``(x + flow[:,0], y + flow[:,1])`` (upstream
    ``resample2d_kernel.cu``, forward, dilation 1).

    Each output pixel sums the k x k input pixels at offsets ``-(k/2-1) .. k/2`` around
    ``floor(x+dx)``, ``floor(y+dy)`` with weights ``exp(-(o-frac)^2 / 2 sigma^2)`` per axis;
    indices are clamped to the border while the weight keeps the unclamped offset, and the sum
    is divided by the sum of the weights. Output size is the flow's.
    """
    batch, channels, in_h, in_w = features.shape
    height, width = flow.shape[-2:]
    dtype, device = features.dtype, features.device
    ys = torch.arange(height, device=device, dtype=dtype).view(1, height, 1)
    xs = torch.arange(width, device=device, dtype=dtype).view(1, 1, width)
    yf, xf = ys + flow[:, 1].to(dtype), xs + flow[:, 0].to(dtype)
    y0, x0 = torch.floor(yf), torch.floor(xf)
    offsets = torch.arange(1 - kernel_size // 2, kernel_size // 2 + 1, device=device, dtype=dtype).view(1, -1, 1, 1)
    weight_y = torch.exp(-((offsets - (yf - y0)[:, None]) ** 2) / (2 * sigma * sigma))  # [B,k,H,W]
    weight_x = torch.exp(-((offsets - (xf - x0)[:, None]) ** 2) / (2 * sigma * sigma))
    rows = (y0[:, None] + offsets).clamp(0, in_h - 1).long() * in_w
    cols = (x0[:, None] + offsets).clamp(0, in_w - 1).long()
    flat = features.reshape(batch, channels, in_h * in_w)
    total = torch.zeros(batch, channels, height * width, device=device, dtype=dtype)
    norm = torch.zeros(batch, 1, height * width, device=device, dtype=dtype)
    for i in range(offsets.shape[1]):
        for j in range(offsets.shape[1]):
            index = (rows[:, i] + cols[:, j]).view(batch, 1, -1).expand(-1, channels, -1)
            weight = (weight_y[:, i] * weight_x[:, j]).view(batch, 1, -1)
            total += weight * flat.gather(2, index)
            norm += weight
    return (total / norm).view(batch, channels, height, width)


class LayerNorm(nn.Module):
    """Upstream ``LayerNorm``: per sample over (C,H,W), eps 1e-5, affine parameters of shape (C,1,1)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), self.eps)


def _norm(kind: str, channels: int) -> nn.Module | None:
    return {"in": lambda: nn.InstanceNorm2d(channels), "ln": lambda: LayerNorm(channels), "none": lambda: None}[kind]()


class Conv2dBlock(nn.Module):
    """Reflect pad -> conv (optionally spectral-normed) -> norm -> activation (keys ``conv``, ``norm``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, norm: str = "none",
                 activation: str = "relu", spectral: bool = False, bias: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(padding)
        conv = nn.Conv2d(cin, cout, kernel, stride, bias=bias)
        self.conv = nn.utils.spectral_norm(conv) if spectral else conv
        self.norm = _norm(norm, cout)
        self.activation = {"relu": nn.ReLU(), "tanh": nn.Tanh(), "none": None}[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return self.activation(x) if self.activation is not None else x


class TransConv2dBlock(nn.Module):
    """Transposed conv (k6 s2 p2 upstream) -> norm -> ReLU (key ``transConv``)."""

    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__()
        self.transConv = nn.ConvTranspose2d(cin, cout, 6, 2, 2)
        self.norm = _norm(norm, cout)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.transConv(x)
        return self.activation(self.norm(x) if self.norm is not None else x)


class ResBlock(nn.Module):
    def __init__(self, dim: int, norm: str):
        super().__init__()
        self.model = nn.Sequential(Conv2dBlock(dim, dim, 3, 1, 1, norm), Conv2dBlock(dim, dim, 3, 1, 1, norm, "none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


class ResBlocks(nn.Module):
    """Residual blocks; never spectral-normed, also inside s_gen (upstream default ``use_sn=False``)."""

    def __init__(self, count: int, dim: int, norm: str):
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(dim, norm) for _ in range(count)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class GetImage(nn.Module):
    """Upstream ``Get_image``: 3x3 conv to RGB with tanh (key ``conv.conv``)."""

    def __init__(self, cin: int):
        super().__init__()
        self.conv = Conv2dBlock(cin, 3, 3, 1, 1, activation="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2)  # nearest


class StructureGen(nn.Module):
    """Stage 1: 7-channel input (image, masked structure, mask) -> structure image in [-1,1]."""

    def __init__(self, dim: int = 64, n_res: int = 4):
        super().__init__()
        block = lambda cin, cout, k, s, p, sn=True: Conv2dBlock(cin, cout, k, s, p, "in", spectral=sn)  # noqa: E731
        self.input_layer = block(7, dim, 7, 1, 3)
        self.down_sample = nn.ModuleList([
            nn.Sequential(block(dim, 2 * dim, 4, 2, 1), block(2 * dim, 2 * dim, 5, 1, 2)),
            nn.Sequential(block(2 * dim, 4 * dim, 4, 2, 1), block(4 * dim, 4 * dim, 5, 1, 2)),
            nn.Sequential(block(4 * dim, 8 * dim, 4, 2, 1)),
        ])
        top = 8 * dim
        self.up_sample = nn.ModuleList(
            nn.Sequential(ResBlocks(n_res, c, "in"), _up(), block(c, c // 2, 5, 1, 2)) for c in (top, top // 2, top // 4)
        )
        self.content_param = nn.ModuleList(block(c, c, 5, 1, 2, sn=False) for c in (top // 2, top // 4, top // 8))
        self.image_net = GetImage(top // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.input_layer(x)
        x1 = self.down_sample[0](x0)
        x2 = self.down_sample[1](x1)
        x3 = self.down_sample[2](x2)
        u1 = self.up_sample[0](x3) + self.content_param[0](x2)
        u2 = self.up_sample[1](u1) + self.content_param[1](x1)
        u3 = self.up_sample[2](u2) + self.content_param[2](x0)
        return self.image_net(u3)


class FlowColumn(nn.Module):
    """Predicts the appearance flow [B,2,H/4,W/4] (channel 0 = x) with InstanceNorm."""

    def __init__(self, dim: int = 64, n_res: int = 2, norm: str = "in"):
        super().__init__()
        block = lambda cin, cout, k, s, p: Conv2dBlock(cin, cout, k, s, p, norm)  # noqa: E731
        self.down_sample_flow = nn.ModuleList([
            nn.Sequential(block(7, dim // 2, 7, 1, 3), block(dim // 2, dim, 4, 2, 1), block(dim, dim, 5, 1, 2)),
            nn.Sequential(block(dim, 2 * dim, 4, 2, 1), block(2 * dim, 2 * dim, 5, 1, 2)),
            nn.Sequential(block(2 * dim, 4 * dim, 4, 2, 1), block(4 * dim, 4 * dim, 5, 1, 2)),
            nn.Sequential(block(4 * dim, 8 * dim, 4, 2, 1), block(8 * dim, 8 * dim, 5, 1, 2)),
        ])
        top = 8 * dim
        self.up_sample_flow = nn.ModuleList([
            nn.Sequential(ResBlocks(n_res, top, norm), TransConv2dBlock(top, top // 2, norm)),
            nn.Sequential(block(top, top // 2, 5, 1, 2), ResBlocks(n_res, top // 2, norm),
                          TransConv2dBlock(top // 2, top // 4, norm)),
        ])
        self.location = nn.Sequential(
            block(top // 2, top // 8, 5, 1, 2), Conv2dBlock(top // 8, 2, 3, 1, 1, activation="none", bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.down_sample_flow[0](x)
        f2 = self.down_sample_flow[1](f1)
        f3 = self.down_sample_flow[2](f2)
        f4 = self.down_sample_flow[3](f3)
        u1 = torch.cat((self.up_sample_flow[0](f4), f3), 1)
        u2 = torch.cat((self.up_sample_flow[1](u1), f2), 1)
        return self.location(u2)


class ConvColumn(nn.Module):
    """Image decoder with LayerNorm; its 128-channel H/4 features are warped by the flow twice."""

    #: (kernel size, sigma) of the two upstream ``Resample2d`` modules.
    RESAMPLERS = ((16, 4.0), (4, 2.0))

    def __init__(self, dim: int = 64, n_res: int = 2, norm: str = "ln"):
        super().__init__()
        block = lambda cin, cout, k, s, p: Conv2dBlock(cin, cout, k, s, p, norm)  # noqa: E731
        self.down_sample = nn.ModuleList([
            nn.Sequential(block(7, dim // 2, 7, 1, 3), block(dim // 2, dim, 4, 2, 1), block(dim, dim, 5, 1, 2),
                          block(dim, 2 * dim, 4, 2, 1), block(2 * dim, 2 * dim, 5, 1, 2)),
            nn.Sequential(block(2 * dim, 4 * dim, 5, 1, 2), block(4 * dim, 8 * dim, 4, 2, 1)),
        ])
        top = 8 * dim
        self.up_sample = nn.ModuleList([
            nn.Sequential(ResBlocks(n_res, top, norm), _up(), block(top, top // 2, 5, 1, 2)),
            nn.Sequential(block(top, top // 2, 5, 1, 2), ResBlocks(n_res, top // 2, norm), _up(),
                          block(top // 2, top // 4, 5, 1, 2), ResBlocks(n_res, top // 4, norm), _up(),
                          block(top // 4, top // 8, 5, 1, 2), GetImage(top // 8)),
        ])

    def forward(self, x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        x1 = self.down_sample[0](x)
        x2 = self.down_sample[1](x1)
        warped = [resample2d(x1, flow, k, sigma) for k, sigma in self.RESAMPLERS]
        return self.up_sample[1](torch.cat((self.up_sample[0](x2), *warped), 1))


class FlowGen(nn.Module):
    """Stage 2: 7-channel input (image, stage-1 structure, mask) -> (image in [-1,1], flow)."""

    def __init__(self) -> None:
        super().__init__()
        self.flow_column = FlowColumn()
        self.conv_column = ConvColumn()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flow = self.flow_column(x)
        return self.conv_column(x, flow), flow


class StructureFlow(nn.Module):
    """The official joint test path (``MODEL=3``, ``src/structure_flow.py::test``), in [-1,1].

    ``inputs = gt * (1 - m)`` (holes 0), ``smooth`` the structure image, ``masks`` 1 = hole.
    Stage 2 receives the raw stage-1 output (not composited with the known structure).
    """

    def __init__(self) -> None:
        super().__init__()
        self.s_gen = StructureGen()
        self.f_gen = FlowGen()

    def forward(self, inputs: torch.Tensor, smooth: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        structure = self.s_gen(torch.cat((inputs, smooth * (1 - masks), masks), 1))
        out, _ = self.f_gen(torch.cat((inputs, structure, masks), 1))
        return out
