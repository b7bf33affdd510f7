"""MISF generator and discriminator (docs/misf.md §2-§4, §9), laid out like EdgeConnect's networks.py.

Module names and Sequential indices follow the official code, so the official
``*_InpaintingModel_gen.pth`` loads with ``strict=True``. :class:`FilterConfig` turns the two
filtering steps on and off, which gives the paper's ablation variants (Tables 3 and 4) as
configurations of this one generator; misf/README.md records the choices the paper leaves open.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import UnknownName
from misf.filtering import TAPS, pixel_filter

#: Raw feature-kernel groups the KPB predicts (576 = 64*9 channels, expanded per level).
KERNEL_GROUPS = 64
#: Channels of the SIFB features F1, F2, F3 (outputs of encoder0, encoder1, encoder2).
LEVEL_CHANNELS = {1: 64, 2: 128, 3: 256}
#: KPB stages that can feed a kernel head, in forward order, with their channels.
KPB_OUTPUTS = {"conv3": 256, "conv7": 256, "conv8": 128, "conv9": 64}
#: Stage that predicts F_l's kernels in a separate predictive network: the end of its decoder at
#: F_l's resolution. MISF's interactive KPB predicts F3's kernels from conv3 (docs/misf.md §4).
SEPARATE_KERNEL_SOURCE = {1: "conv9", 2: "conv8", 3: "conv7"}


@dataclass(frozen=True)
class FilterConfig:
    """Which dynamic filtering steps the generator performs.

    feature_level: SIFB feature filtered (1, 2, 3 for F1..F3) or None.
    image_filter: filter the decoder's pre-tanh output, or, without an encoder-decoder, the
        corrupted input image itself.
    interactive: the KPB also sees F2 (MISF); otherwise a separate predictive network sees only
        the masked image and the mask (the paper's Eq. 3 and 7).
    encoder_decoder: False only for Img-Filter, which has no SIFB.
    """

    feature_level: int | None = 3
    image_filter: bool = True
    interactive: bool = True
    encoder_decoder: bool = True

    def __post_init__(self) -> None:
        if self.feature_level not in (None, *LEVEL_CHANNELS):
            raise ValueError(f"feature_level must be None, 1, 2 or 3, not {self.feature_level!r}")
        if not self.encoder_decoder and (self.feature_level or self.interactive or not self.image_filter):
            raise ValueError("without an encoder-decoder only image filtering by a separate predictor is possible")
        if self.interactive and self.feature_level not in (None, 3):
            raise ValueError("the interactive (official) KPB filters F3 only")
        if self.interactive and not (self.feature_level or self.image_filter):
            raise ValueError("an interactive KPB without any filtering has nothing to predict")

    @property
    def uses_kpb(self) -> bool:
        return bool(self.feature_level or self.image_filter)

    @property
    def kernel_source(self) -> str | None:
        """KPB stage whose output predicts the feature kernels (None: no feature filtering)."""
        if self.feature_level is None:
            return None
        return "conv3" if self.interactive else SEPARATE_KERNEL_SOURCE[self.feature_level]


#: The paper's variants (docs/misf.md §15). Only "misf" has official weights.
VARIANTS: dict[str, FilterConfig] = {
    "misf": FilterConfig(),
    "img-filter": FilterConfig(feature_level=None, interactive=False, encoder_decoder=False),
    "sem-filter-f1": FilterConfig(feature_level=1, image_filter=False, interactive=False),
    "sem-filter-f2": FilterConfig(feature_level=2, image_filter=False, interactive=False),
    "sem-filter-f3": FilterConfig(feature_level=3, image_filter=False, interactive=False),
    "en-decoder": FilterConfig(feature_level=None, image_filter=False, interactive=False),
    "en-decoder-filter": FilterConfig(feature_level=None, image_filter=True, interactive=False),
}


class BaseNetwork(nn.Module):
    def init_weights(self, gain: float = 0.02) -> None:
        """N(0, gain) conv/linear weights and zero biases everywhere, KPB included (docs/misf.md §8)."""

        def init(module: nn.Module) -> None:
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(getattr(module, "weight_orig", module.weight), 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        self.apply(init)


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """Parameter-free IN, so it adds no state_dict keys (docs/misf.md §3)."""
    return nn.InstanceNorm2d(channels, track_running_stats=False)


class ResnetBlock(nn.Module):
    """EdgeConnect's residual block: dilated 3x3 conv, IN, ReLU, 3x3 conv, IN, plus the input."""

    def __init__(self, dim: int, dilation: int = 1):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            nn.Conv2d(dim, dim, kernel_size=3, dilation=dilation),
            instance_norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3),
            instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class Basic(nn.Module):
    """KPB block: three zero-padded 3x3 conv + ReLU, no normalisation (docs/misf.md §4)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class KPN(nn.Module):
    """Kernel prediction branch: a U-Net of :class:`Basic` blocks (docs/misf.md §4).

    sifb_channels: channels of F2 concatenated after ``conv2`` (128 in MISF, 0 for a separate
        predictive network). feature_source: stage (a key of :data:`KPB_OUTPUTS`) that predicts
        the feature kernels, or None. image_kernels: predict 27 image kernels from ``conv9``.
    legacy_conv_final: create the unused ``conv_final`` that official checkpoints carry.
    Stages after the last one a head needs are not built.
    Returns (raw feature kernels [B,576,h,w] or None, image kernels [B,27,H,W] or None).
    """

    def __init__(
        self,
        sifb_channels: int = 128,
        feature_source: str | None = "conv3",
        image_kernels: bool = True,
        legacy_conv_final: bool = False,
    ):
        super().__init__()
        self.feature_source = feature_source
        self.predicts_image_kernels = image_kernels
        needed = ([feature_source] if feature_source else []) + (["conv9"] if image_kernels else [])
        self.depth = max(list(KPB_OUTPUTS).index(stage) for stage in needed)  # 0: conv3 ... 3: conv9
        self.conv1 = Basic(4, 64)
        self.conv2 = Basic(64, 128)
        self.conv3 = Basic(128 + sifb_channels, 256)
        if self.depth >= 1:
            self.conv4 = Basic(256, 512)
            self.conv7 = Basic(256 + 512, 256)
        if self.depth >= 2:
            self.conv8 = Basic(128 + sifb_channels + 256, 128)
        if self.depth >= 3:
            self.conv9 = Basic(64 + 128, 64)
        if feature_source is not None:
            self.kernels = nn.Conv2d(KPB_OUTPUTS[feature_source], KERNEL_GROUPS * TAPS, 1)
        if image_kernels:
            self.core_img = nn.Conv2d(64, 3 * TAPS, 1)
        if legacy_conv_final:
            self.conv_final = nn.Conv2d(12, 3, 3, padding=1)

    def forward(
        self, x: torch.Tensor, sifb_feature: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        stages = {"conv1": self.conv1(x)}
        conv2 = self.conv2(F.avg_pool2d(stages["conv1"], 2, 2))
        if sifb_feature is not None:
            conv2 = torch.cat([conv2, sifb_feature], dim=1)
        stages["conv3"] = self.conv3(F.avg_pool2d(conv2, 2, 2))
        if self.depth >= 1:
            conv4 = self.conv4(stages["conv3"])
            stages["conv7"] = self.conv7(torch.cat([stages["conv3"], conv4], dim=1))
        if self.depth >= 2:
            stages["conv8"] = self.conv8(torch.cat([conv2, _up2(stages["conv7"])], dim=1))
        if self.depth >= 3:
            stages["conv9"] = self.conv9(torch.cat([stages["conv1"], _up2(stages["conv8"])], dim=1))
        feature_kernels = self.kernels(stages[self.feature_source]) if self.feature_source else None
        image_kernels = self.core_img(stages["conv9"]) if self.predicts_image_kernels else None
        return feature_kernels, image_kernels


class KernelConv(nn.Module):
    """Parameter-free per-pixel filtering (docs/misf.md §5); a module to mirror the official tree."""

    def forward(self, x: torch.Tensor, kernels: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        return pixel_filter(x, kernels, repeat)


class InpaintGenerator(BaseNetwork):
    """SIFB encoder-decoder plus KPB. Input ``cat(I*(1-M), M)`` [B,4,H,W], H and W multiples of 4.

    Output in (0, 1): ``(tanh(D)+1)/2`` of the (filtered) decoder output; for Img-Filter the
    filtered corrupted image itself (misf/README.md). The official code is only correct for
    square inputs; this one applies kernels at their own pixels at any shape.
    """

    def __init__(self, filtering: FilterConfig = FilterConfig(), residual_blocks: int = 8, init_weights: bool = True):
        super().__init__()
        self.filtering = filtering
        if filtering.encoder_decoder:
            self.encoder0 = nn.Sequential(
                nn.ReflectionPad2d(3), nn.Conv2d(4, 64, kernel_size=7), instance_norm(64), nn.ReLU(True)
            )
            self.encoder1 = nn.Sequential(
                nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1), instance_norm(128), nn.ReLU(True)
            )
            self.encoder2 = nn.Sequential(
                nn.Conv2d(128, 256, kernel_size=4, stride=2, padding=1), instance_norm(256), nn.ReLU(True)
            )
            self.middle = nn.Sequential(*[ResnetBlock(256, dilation=2) for _ in range(residual_blocks)])
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(256, 128, kernel_size=4, stride=2, padding=1),
                instance_norm(128),
                nn.ReLU(True),
                nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1),
                instance_norm(64),
                nn.ReLU(True),
                nn.ReflectionPad2d(3),
                nn.Conv2d(64, 3, kernel_size=7),
            )
        if filtering.uses_kpb:
            self.kernel_pred = KernelConv()
            self.kpn_model = KPN(
                sifb_channels=LEVEL_CHANNELS[2] if filtering.interactive else 0,
                feature_source=filtering.kernel_source,
                image_kernels=filtering.image_filter,
                legacy_conv_final=filtering.interactive,
            )
        if init_weights:
            self.init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, None)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Output plus the encoder features ``F1``..``F3`` and, at the filtered level l, ``Fl_hat``."""
        features: dict[str, torch.Tensor] = {}
        return self._run(x, features), features

    def _run(self, x: torch.Tensor, features: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if x.shape[1] != 4 or x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"expected [B,4,H,W] with H, W multiples of 4, got {tuple(x.shape)}")
        config = self.filtering
        feature_kernels = image_kernels = None
        if config.uses_kpb and not config.interactive:
            feature_kernels, image_kernels = self.kpn_model(x)
        if not config.encoder_decoder:
            return self.kernel_pred(x[:, :3], image_kernels)
        f = x
        for level, encoder in enumerate((self.encoder0, self.encoder1, self.encoder2), start=1):
            f = encoder(f)
            if config.interactive and level == 2:
                feature_kernels, image_kernels = self.kpn_model(x, f)
            if features is not None:
                features[f"F{level}"] = f
            if level == config.feature_level:
                f = self.kernel_pred(f, feature_kernels, repeat=LEVEL_CHANNELS[level] // KERNEL_GROUPS)
                if features is not None:
                    features[f"F{level}_hat"] = f
        out = self.decoder(self.middle(f))
        if config.image_filter:
            out = self.kernel_pred(out, image_kernels)
        return (torch.tanh(out) + 1) / 2


def build_generator(variant: str = "misf", init_weights: bool = True) -> InpaintGenerator:
    """The generator of a named variant (see :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise UnknownName(f"Unknown MISF variant '{variant}'. Known: {', '.join(VARIANTS)}")
    return InpaintGenerator(VARIANTS[variant], init_weights=init_weights)


def _sn_conv(in_channels: int, out_channels: int, stride: int, use_spectral_norm: bool) -> nn.Module:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=stride, padding=1, bias=not use_spectral_norm)
    return nn.utils.spectral_norm(conv) if use_spectral_norm else conv


class Discriminator(BaseNetwork):
    """EdgeConnect's PatchGAN with spectral norm (docs/misf.md §9).

    ``conv1`` is also bound as ``features``, so both key sets are in the state_dict, as in the
    official files. Returns (score map, [conv1..conv5] outputs); the score is sigmoid'ed unless
    ``use_sigmoid`` is False (hinge loss).
    """

    def __init__(
        self, in_channels: int = 3, use_sigmoid: bool = True, use_spectral_norm: bool = True, init_weights: bool = True
    ):
        super().__init__()
        self.use_sigmoid = use_sigmoid
        sn = use_spectral_norm
        self.conv1 = self.features = nn.Sequential(_sn_conv(in_channels, 64, 2, sn), nn.LeakyReLU(0.2, inplace=True))
        self.conv2 = nn.Sequential(_sn_conv(64, 128, 2, sn), nn.LeakyReLU(0.2, inplace=True))
        self.conv3 = nn.Sequential(_sn_conv(128, 256, 2, sn), nn.LeakyReLU(0.2, inplace=True))
        self.conv4 = nn.Sequential(_sn_conv(256, 512, 1, sn), nn.LeakyReLU(0.2, inplace=True))
        self.conv5 = nn.Sequential(_sn_conv(512, 1, 1, sn))
        if init_weights:
            self.init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        conv1 = self.conv1(x)
        conv2 = self.conv2(conv1)
        conv3 = self.conv3(conv2)
        conv4 = self.conv4(conv3)
        conv5 = self.conv5(conv4)
        score = torch.sigmoid(conv5) if self.use_sigmoid else conv5
        return score, [conv1, conv2, conv3, conv4, conv5]
