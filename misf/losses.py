"""MISF's training losses as the official ``InpaintingModel.process`` computes them (docs/misf.md §13).

Generator: ``0.1·BCE(D(out), 1) + 1·L1(out, gt)/mean(M) + 0.1·perceptual + 250·style`` on the
**raw** output; discriminator: ``(BCE(D(gt), 1) + BCE(D(out.detach()), 0)) / 2`` (nsgan: the
discriminator applies the sigmoid itself). Perceptual and style losses use a frozen VGG19 fed
[0,1] images without ImageNet normalisation, as the official code does.
"""
from __future__ import annotations

import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VGG19_Weights, vgg

from harness.checkpoints import MissingWeightsError

VGG19_URL = VGG19_Weights.IMAGENET1K_V1.url
#: Index in ``vgg19().features`` of each ReLU output used (EdgeConnect's slices [:2], [:7], ...).
VGG_LAYERS = {
    "relu1_1": 1, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11, "relu3_4": 17,
    "relu4_1": 20, "relu4_4": 26, "relu5_1": 29, "relu5_2": 31,
}
#: Perceptual layers and their weights (EdgeConnect's PerceptualLoss default [1.0] * 5).
PERCEPTUAL_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}
STYLE_LAYERS = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")


@dataclass(frozen=True)
class LossWeights:
    """Official config.yml weights: INPAINT_ADV, L1, CONTENT, STYLE."""

    adversarial: float = 0.1
    l1: float = 1.0
    perceptual: float = 0.1
    style: float = 250.0


class VGGFeatures(nn.Module):
    """Frozen VGG19 ``features`` up to relu5_2; returns the activations named in :data:`VGG_LAYERS`."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features[: max(VGG_LAYERS.values()) + 1]  # later layers are never used
        self.requires_grad_(False)
        self.eval()
        self._names = {index: name for name, index in VGG_LAYERS.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._names:
                outputs[self._names[index]] = x
        return outputs


def vgg19_cache_path() -> Path:
    """Where torchvision's download cache keeps the ImageNet VGG19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG19_URL).name


def _missing(reason: str) -> MissingWeightsError:
    return MissingWeightsError(
        f"VGG19 ImageNet weights (needed by the perceptual and style losses) are unavailable: {reason}.\n"
        f"Download {VGG19_URL} on a machine with network access and either copy it to {vgg19_cache_path()} "
        "(torchvision's cache; $TORCH_HOME moves it) or pass --vgg-weights PATH."
    )


def _vgg19_state(weights: str | Path | None) -> dict[str, torch.Tensor]:
    if weights is not None:
        if not Path(weights).is_file():
            raise _missing(f"{weights} is not a file")
        return torch.load(weights, map_location="cpu", weights_only=True)
    try:  # what vgg19(weights=IMAGENET1K_V1) does: the cached file, else a checked download into the cache
        return torch.hub.load_state_dict_from_url(VGG19_URL, map_location="cpu", check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        raise _missing(f"{vgg19_cache_path()} is absent and the download failed ({type(error).__name__}: {error})") from error


def load_vgg19(weights: str | Path | None = None, random_init: bool = False) -> VGGFeatures:
    """ImageNet VGG19 features from torchvision's cache (downloading if possible) or a local file.

    ``weights`` may hold the whole ``vgg19`` state_dict or only (a prefix of) its ``features``
    reaching relu5_2. ``random_init`` gives an untrained VGG for tests, which need no download.
    """
    features = vgg.make_layers(vgg.cfgs["E"])[: max(VGG_LAYERS.values()) + 1]
    if not random_init:
        state = {k.removeprefix("features."): v for k, v in _vgg19_state(weights).items()}
        state = {k: v for k, v in state.items() if k.split(".")[0].isdigit() and int(k.split(".")[0]) < len(features)}
        try:
            features.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"{weights or vgg19_cache_path()} is not a VGG19 state_dict: {error}") from error
    return VGGFeatures(features)


def gram(x: torch.Tensor) -> torch.Tensor:
    """F·Fᵀ / (C·H·W) per sample, in float32 (a bf16 Gram loses the style signal)."""
    b, c, h, w = x.shape
    with torch.autocast(x.device.type, enabled=False):
        f = x.float().reshape(b, c, h * w)
        return f @ f.transpose(1, 2) / (c * h * w)


def bce(score: torch.Tensor, real: bool) -> torch.Tensor:
    """nsgan BCE on sigmoid scores, in float32 (BCE is not autocast-safe)."""
    with torch.autocast(score.device.type, enabled=False):
        score = score.float()
        return F.binary_cross_entropy(score, torch.full_like(score, 1.0 if real else 0.0))


class InpaintingLoss(nn.Module):
    """The official generator and discriminator objectives; ``vgg`` is a :class:`VGGFeatures`."""

    def __init__(self, vgg_features: VGGFeatures, weights: LossWeights = LossWeights()):
        super().__init__()
        self.vgg = vgg_features
        self.weights = weights

    def perceptual(self, out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        fo, fg = self.vgg(out), self.vgg(gt)
        return sum(w * F.l1_loss(fo[n].float(), fg[n].float()) for n, w in PERCEPTUAL_LAYERS.items())

    def style(self, out: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        fo, fg = self.vgg(out), self.vgg(gt)
        return sum(F.l1_loss(gram(fo[n]), gram(fg[n])) for n in STYLE_LAYERS)

    def generator(
        self, out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, fake_score: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total generator loss and its weighted terms; ``fake_score`` is D(out) without detaching."""
        w = self.weights
        terms = {
            "adv": w.adversarial * bce(fake_score, True),
            "l1": w.l1 * F.l1_loss(out.float(), gt.float()) / mask.float().mean(),
            "perc": w.perceptual * self.perceptual(out, gt),
            "style": w.style * self.style(out * mask, gt * mask),
        }
        return sum(terms.values()), terms

    @staticmethod
    def discriminator(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
        return (bce(real_score, True) + bce(fake_score, False)) / 2
