"""PConv (Liu et al. 2018) as OpenMMLab released it, following mmagic's test path.

mmagic decodes images with OpenCV, so the network runs on **BGR**; the predictor flips RGB to
BGR on the way in and back on the way out (feeding RGB moves the output by the full range).
``GetMaskedImage`` fills holes with 127.5 in uint8 space, which the (x − 127.5)/127.5
normalisation maps to 0; the generator receives 1 = valid repeated to 3 channels;
``PConvInpaintor.forward_tensor`` composites ``fake·(1−valid) + masked·valid`` and
``destruct`` de-normalises and clamps to [0, 255]. Seven stride-2 levels: H and W must be
multiples of 128 (the released models were trained at 256²; the harness pads to fit).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from baselines.pconv_networks import PConvEncoderDecoder
from baselines.weights import PCONV_FILES, pconv_dir, pconv_weights
from harness.checkpoints import MissingWeightsError, load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import SizeSpec, TorchPredictor

#: 2**7: seven stride-2 partial convs, undone by seven nearest upsamplings.
MULTIPLE = 128
PREFIX = "generator."


class PConvPredictor(TorchPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "pconv"
    size = SizeSpec(multiple=MULTIPLE)

    def __init__(
        self, model: PConvEncoderDecoder, weight_files: tuple[Path, ...] = (), dataset: str | None = None, device: Any = None
    ):
        super().__init__(model, device)
        self.weight_files = weight_files
        self.dataset = dataset

    def config(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "channels": "BGR",
            "input": "(u8 - 127.5) / 127.5, holes 0",
            "mask": "valid = not (mask > 0), 3 channels",
            "output": "clamp((x + 1) / 2)",
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"PConv needs H and W multiples of {MULTIPLE}, got {tuple(images.shape[-2:])}")
        valid = (masks <= 0).to(self.device, torch.float32).expand(-1, 3, -1, -1)
        bgr = images.to(self.device, torch.float32).flip(1)
        masked = (bgr * 2 - 1) * valid
        fake = self.module(masked, valid)
        out = fake * (1 - valid) + masked * valid
        return ((out + 1) / 2).clamp(0, 1).flip(1).to(images.device)


def generator_state(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """The ``generator.`` entries of an mmcv ``state_dict``, unprefixed (a loss network's keys are dropped)."""
    generator = {k.removeprefix(PREFIX): v for k, v in state.items() if k.startswith(PREFIX)}
    if not generator:
        raise ValueError(f"{path} holds no '{PREFIX}*' keys: not an mmediting/mmagic PConv checkpoint")
    return generator


def pconv(checkpoint: str | os.PathLike | None = None, device: Any = None, dataset: str = "places2") -> PConvPredictor:
    """Load OpenMMLab's released generator for ``dataset`` (places2 or celeba) from its mmcv container.

    ``checkpoint`` is the .pth file, a folder holding it under its released name, or ``hf://...``;
    it defaults to ``$HARNESS_WEIGHTS/pconv``. For other datasets only an explicit file is accepted.
    """
    info = pconv_weights(dataset)
    spec = pconv_dir() if checkpoint is None else checkpoint
    explicit_file = str(spec).startswith("hf://") or Path(spec).expanduser().is_file()
    if dataset not in PCONV_FILES and not explicit_file:
        raise MissingWeightsError(f"PConv has no released weights for '{dataset}'.\n" + info.missing_message([spec]))
    path = resolve_checkpoint(spec, info)
    model = PConvEncoderDecoder()
    load_strict(model, generator_state(load_state_dict(path, key="state_dict"), path), path, "PConv generator")
    return PConvPredictor(model, (path,), dataset, device)


def random_predictor(device: Any = None) -> PConvPredictor:
    """PConv with its initial random weights, for timing and shape checks."""
    return PConvPredictor(PConvEncoderDecoder(), device=device)
