"""EdgeConnect's two generators (Nazeri et al. 2019, knazeri/edge-connect ``src/networks.py``).

Both share one layout; the edge generator adds spectral norm to every conv but the last.
Module indices follow the official ``nn.Sequential`` layout so that ``EdgeModel_gen.pth`` and
``InpaintingModel_gen.pth`` load with ``strict=True`` (keys ``encoder.{1,4,7}``,
``middle.{0..7}.conv_block.{1,5}``, ``decoder.{0,3,7}``; spectral-norm layers store
``weight_orig``/``weight_u``/``weight_v``). Spectral norm uses the hook-based
``torch.nn.utils.spectral_norm`` because its key names are the official ones; in eval mode it
uses the stored ``u``/``v`` without power iteration, as the official test did.
"""
from __future__ import annotations

import torch
from torch import nn


def _maybe_sn(module: nn.Module, spectral: bool) -> nn.Module:
    return nn.utils.spectral_norm(module) if spectral else module


class ResnetBlock(nn.Module):
    """Dilated residual block without a final ReLU; convs lose their bias under spectral norm."""

    def __init__(self, dim: int, dilation: int, spectral: bool):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            _maybe_sn(nn.Conv2d(dim, dim, 3, dilation=dilation, bias=not spectral), spectral),
            nn.InstanceNorm2d(dim, track_running_stats=False),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            _maybe_sn(nn.Conv2d(dim, dim, 3, bias=not spectral), spectral),
            nn.InstanceNorm2d(dim, track_running_stats=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels, track_running_stats=False), nn.ReLU(True)]


class Generator(nn.Module):
    """Encoder (x4 down), 8 dilated residual blocks, decoder (x4 up); H and W multiples of 4."""

    def __init__(self, in_channels: int, out_channels: int, spectral: bool, residual_blocks: int = 8):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            _maybe_sn(nn.Conv2d(in_channels, 64, 7), spectral),
            *_norm_relu(64),
            _maybe_sn(nn.Conv2d(64, 128, 4, stride=2, padding=1), spectral),
            *_norm_relu(128),
            _maybe_sn(nn.Conv2d(128, 256, 4, stride=2, padding=1), spectral),
            *_norm_relu(256),
        )
        self.middle = nn.Sequential(*(ResnetBlock(256, 2, spectral) for _ in range(residual_blocks)))
        self.decoder = nn.Sequential(
            _maybe_sn(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1), spectral),
            *_norm_relu(128),
            _maybe_sn(nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), spectral),
            *_norm_relu(64),
            nn.ReflectionPad2d(3),
            nn.Conv2d(64, out_channels, 7),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation output (the caller applies the head's sigmoid or tanh)."""
        return self.decoder(self.middle(self.encoder(x)))


class EdgeConnect(nn.Module):
    """The official test path of the joint model (``MODEL=3``, ``src/edge_connect.py::test``).

    Inputs in [0,1], ``masks`` 1 = hole. The inpainting generator receives the edge generator's
    **raw** output over the whole image (test() does not paste the known Canny edges back;
    training and sampling do).
    """

    def __init__(self) -> None:
        super().__init__()
        # input: grayscale (holes white), Canny edges (holes 0), mask
        self.edge_generator = Generator(in_channels=3, out_channels=1, spectral=True)
        # input: RGB (holes white), edge map
        self.inpaint_generator = Generator(in_channels=4, out_channels=3, spectral=False)

    def forward(self, images: torch.Tensor, gray: torch.Tensor, edges: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        valid = 1 - masks
        edge_input = torch.cat((gray * valid + masks, edges * valid, masks), dim=1)
        edge_pred = torch.sigmoid(self.edge_generator(edge_input))
        inpaint_input = torch.cat((images * valid + masks, edge_pred), dim=1)
        return (torch.tanh(self.inpaint_generator(inpaint_input)) + 1) / 2
