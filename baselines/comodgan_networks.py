"""Co-Mod-GAN's generator (Zhao et al., ICLR 2021) as ported to PyTorch by the MI-GAN authors.

Re-stated from the description in docs/comodgan.md. The module tree (every state_dict key)
is that of the released ``comodgan_{256,512}_*.pt`` files: a StyleGAN2 mapping network, an
encoder from the model resolution down to a 1024-d global code, and a StyleGAN2 synthesis
network whose layers are co-modulated by ``cat(w, global code)`` and receive the encoder's
feature at every resolution. The resampling follows StyleGAN2-ADA's pure-torch reference
(``upfirdn2d`` with the 4-tap binomial filter); its fused CUDA kernels are not used.

Randomness: the latent z (drawn by the caller) and, with ``noise_mode='random'``, one noise
map per synthesis layer drawn in forward order. The encoder's dropout is inactive in eval
mode. Styles are normalised over the whole batch tensor, so an item's output depends on the
other items of its batch; the predictor runs one item per forward.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Channels per resolution: min(CH_BASE // res, CH_MAX), for the encoder and the synthesis.
CH_BASE, CH_MAX = 32768, 512
Z_DIM = W_DIM = 512
#: Size of the encoder's global code (``w0``), concatenated to w in every style.
GLOBAL_DIM = 1024
MAPPING_LAYERS, MAPPING_LR = 8, 0.01
NOISE_MODES = ("random", "const", "none")


def channels(resolution: int) -> int:
    return min(CH_BASE // resolution, CH_MAX)


def lrelu_agc(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) scaled by sqrt(2) and clamped to +-256."""
    return (F.leaky_relu(x, 0.2) * math.sqrt(2)).clamp(-256, 256)


def binomial_filter() -> torch.Tensor:
    """The normalised 4x4 outer product of [1, 3, 3, 1] (the ``resample_filter`` buffers)."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(taps, taps) / 64


def blur(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int, int, int], gain: float = 1.0) -> torch.Tensor:
    """Zero-pad (left, right, top, bottom), then a depthwise true convolution with ``kernel * gain``."""
    ch = x.shape[1]
    weight = (kernel * gain).flip([0, 1]).to(x.dtype)[None, None].expand(ch, 1, *kernel.shape)
    return F.conv2d(F.pad(x, pad), weight, groups=ch)


def upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's ``upsample2d``: zero insertion, pad (2, 1), blur with gain 4."""
    batch, ch, height, width = x.shape
    spread = x.new_zeros(batch, ch, height, 2, width, 2)
    spread[:, :, :, 0, :, 0] = x
    return blur(spread.reshape(batch, ch, 2 * height, 2 * width), kernel, (2, 1, 2, 1), gain=4.0)


class Dense(nn.Module):
    """Fully connected layer with equalised learning rate (weight gain lr / sqrt(fan_in), bias gain lr)."""

    def __init__(self, cin: int, cout: int, activation: bool = False, lr: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr)
        self.bias = nn.Parameter(torch.full([cout], float(bias_init)))
        self.weight_gain, self.bias_gain = lr / math.sqrt(cin), lr
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        x = torch.addmm(bias.unsqueeze(0), x, (self.weight * self.weight_gain).t())
        return lrelu_agc(x) if self.activation else x


class Mapping(nn.Module):
    """z -> w: second-moment normalisation, 8 dense layers (lr 0.01). ``w_avg`` serves truncation
    only, which the inference path leaves at psi = 1; all ``num_ws`` copies of w are equal."""

    def __init__(self):
        super().__init__()
        for index in range(MAPPING_LAYERS):
            self.add_module(f"fc{index}", Dense(Z_DIM if index == 0 else W_DIM, W_DIM, True, lr=MAPPING_LR))
        self.register_buffer("w_avg", torch.zeros(W_DIM))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.float()
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for index in range(MAPPING_LAYERS):
            x = getattr(self, f"fc{index}")(x)
        return x


class Conv2dLayer(nn.Module):
    """Encoder convolution: equalised-lr weight, 'same' padding, optional blur + stride-2 downsampling, bias, activation."""

    def __init__(self, cin: int, cout: int, kernel: int, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        if down:
            self.register_buffer("resample_filter", binomial_filter())
        self.weight_gain = 1 / math.sqrt(cin * kernel * kernel)
        self.down, self.padding = down, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.weight_gain
        if self.down:  # blur with the filter's extra padding, then a strided valid convolution
            x = F.conv2d(blur(x, self.resample_filter, (self.padding + 1,) * 4), weight, stride=2)
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        return lrelu_agc(x + self.bias.view(1, -1, 1, 1))


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, rgb: int | None = None):
        super().__init__()
        self.register_buffer("resample_filter", binomial_filter())  # unused at inference, kept for the key set
        if rgb is not None:
            self.fromrgb = Conv2dLayer(rgb, cin, 1)
        self.conv0 = Conv2dLayer(cin, cin, 3)
        self.conv1 = Conv2dLayer(cin, cout, 3, down=True)
        self.rgb = rgb

    def forward(self, x: torch.Tensor | None, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.rgb is not None:
            y = self.fromrgb(image)
            x = y if x is None else x + y
        feature = self.conv0(x)
        return self.conv1(feature), feature


class EncoderEpilogue(nn.Module):
    """4x4 conv, then a dense layer to the global code; dropout(0.5) acts only in training mode."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = Conv2dLayer(ch, ch, 3)
        self.fc = Dense(ch * 16, GLOBAL_DIM, activation=True)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.conv(x)
        return self.dropout(self.fc(feature.flatten(1))), feature


class Encoder(nn.Module):
    def __init__(self, resolution: int, in_channels: int = 4):
        super().__init__()
        self.levels = [2**i for i in range(int(math.log2(resolution)), 2, -1)]  # R .. 8
        for index, res in enumerate(self.levels):
            self.add_module(f"b{res}", EncoderBlock(channels(res), channels(res // 2), in_channels if index == 0 else None))
        self.b4 = EncoderEpilogue(channels(4))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        x, features = None, {}
        for res in self.levels:
            x, features[res] = getattr(self, f"b{res}")(x, image)
        code, features[4] = self.b4(x)
        return code, features


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                   up: bool = False, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2's modulated convolution, one weight per sample as a grouped convolution.

    With demodulation the weight is first normalised to unit RMS per output filter and the styles
    to unit RMS **over the whole [B, C] tensor** (the port's variant): this couples batch items.
    ``up`` doubles the resolution: transposed stride-2 convolution, then a blur of gain 4 padded 1.
    """
    batch, cin = styles.shape
    cout, _, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, cin, 1, 1)
    if demodulate:
        w = w * (w.square().sum([2, 3, 4]) + 1e-8).rsqrt().reshape(batch, cout, 1, 1, 1)
    x = x.reshape(1, batch * cin, *x.shape[2:])
    if up:
        w = w.transpose(1, 2).reshape(batch * cin, cout, kh, kw)
        x = F.conv_transpose2d(x, w, stride=2, groups=batch)
        x = blur(x, kernel, (1, 1, 1, 1), gain=4.0)
    else:
        x = F.conv2d(x, w.reshape(batch * cout, cin, kh, kw), padding=kh // 2, groups=batch)
    return x.reshape(batch, cout, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally doubling the resolution), noise, bias, activation."""

    def __init__(self, cin: int, cout: int, style_dim: int, resolution: int, up: bool = False, filtered: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        if filtered:  # the first block's layer holds a (unused) filter too: it is part of the key set
            self.register_buffer("resample_filter", binomial_filter())
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.affine = Dense(style_dim, cin, bias_init=1.0)
        self.up, self.resolution = up, resolution

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str) -> torch.Tensor:
        styles = self.affine(style)
        noise = None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv(x, self.weight, styles, True, self.up, getattr(self, "resample_filter", None))
        if noise is not None:
            x = x + noise
        return lrelu_agc(x + self.bias.view(1, -1, 1, 1))


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation (styles scaled by 1 / sqrt(fan_in)), bias, no activation."""

    def __init__(self, cin: int, style_dim: int, rgb: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rgb, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(rgb))
        self.affine = Dense(style_dim, cin, bias_init=1.0)
        self.weight_gain = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = modulated_conv(x, self.weight, self.affine(style) * self.weight_gain, False)
        return x + self.bias.view(1, -1, 1, 1)


class SynthesisFirst(nn.Module):
    """4x4: dense layer from the global code, plus the encoder's 4x4 feature, one layer, RGB."""

    def __init__(self, ch: int):
        super().__init__()
        self.fc = Dense(GLOBAL_DIM, ch * 16, activation=True)
        self.conv = SynthesisLayer(ch, ch, W_DIM + GLOBAL_DIM, 4)
        self.torgb = ToRGB(ch, W_DIM + GLOBAL_DIM)

    def forward(self, code: torch.Tensor, feature: torch.Tensor, style: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.fc(code).view(code.shape[0], -1, 4, 4) + feature
        x = self.conv(x, style, noise_mode)
        return x, self.torgb(x, style)


class SynthesisBlock(nn.Module):
    def __init__(self, cin: int, cout: int, resolution: int):
        super().__init__()
        style_dim = W_DIM + GLOBAL_DIM
        self.register_buffer("resample_filter", binomial_filter())
        self.conv0 = SynthesisLayer(cin, cout, style_dim, resolution, up=True)
        self.conv1 = SynthesisLayer(cout, cout, style_dim, resolution, filtered=False)
        self.torgb = ToRGB(cout, style_dim)

    def forward(self, x: torch.Tensor, feature: torch.Tensor, image: torch.Tensor, style: torch.Tensor,
                noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv0(x, style, noise_mode) + feature
        x = self.conv1(x, style, noise_mode)
        return x, upsample2x(image, self.resample_filter) + self.torgb(x, style)


class Synthesis(nn.Module):
    def __init__(self, resolution: int):
        super().__init__()
        self.levels = [2**i for i in range(3, int(math.log2(resolution)) + 1)]  # 8 .. R
        self.b4 = SynthesisFirst(channels(4))
        for res in self.levels:
            self.add_module(f"b{res}", SynthesisBlock(channels(res // 2), channels(res), res))

    def forward(self, code: torch.Tensor, features: dict[int, torch.Tensor], w: torch.Tensor,
                noise_mode: str) -> torch.Tensor:
        style = torch.cat([w, code], dim=1)  # every layer's w is the same (psi = 1), so one style serves all
        x, image = self.b4(code, features[4], style, noise_mode)
        for res in self.levels:
            x, image = getattr(self, f"b{res}")(x, features[res], image, style, noise_mode)
        return image


class CoModGANGenerator(nn.Module):
    """Input [B,4,R,R] = cat(known - 0.5, image_in_[-1,1] * known); output RGB [B,3,R,R].

    ``forward`` draws z with ``torch.randn([B, 512])`` first, then the noise maps, in the port's
    order (mapping before encoder before synthesis), so seeding torch right before a call
    reproduces the port's forward under the same seed.
    """

    def __init__(self, resolution: int = 256):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"Co-Mod-GAN's resolution must be a power of two >= 8, got {resolution}")
        self.resolution = resolution
        self.mapping = Mapping()
        self.synthesis = Synthesis(resolution)
        self.encoder = Encoder(resolution)

    def forward(self, x: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        w = self.mapping(torch.randn([x.shape[0], Z_DIM]).to(x.device))
        code, features = self.encoder(x)
        return self.synthesis(code, features, w, noise_mode)
