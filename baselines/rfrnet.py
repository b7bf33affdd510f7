"""RFR-Net (Li et al., CVPR 2020) as a harness predictor, following the official test path.

``run.py --test`` builds the mask with ``mask_reverse=True``: the mask file (white = hole) is
thresholded with ``> 0`` and flipped, so inside RFR-Net **1 = valid**, repeated to 3 channels.
The network sees ``gt * mask`` in [0,1] (no normalisation) and ``model.test()`` composites
``fake * (1 - mask) + gt * mask`` and saves it with ``save_image``, which clamps to [0,1]. The
test images are centre-cropped and resized to ``--target_size`` (256), the size the released
models were trained at; so the harness resizes to 256 unless ``target_size=None`` is asked for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from baselines.rfrnet_networks import RFRNet
from baselines.weights import RFRNET_FILES, rfrnet_dir, rfrnet_weights
from harness.checkpoints import MissingWeightsError, load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import Predictor, SizeSpec, TorchPredictor

#: ``--target_size`` default of run.py, the resolution of the released models.
OFFICIAL_SIZE = 256
#: enc_1-3 halve a feature map that Pconv1 already halved: sides must divide by 16.
MULTIPLE = 16


class RFRNetPredictor(TorchPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "rfrnet"

    def __init__(
        self,
        model: torch.nn.Module,
        weight_files: tuple[Path, ...] = (),
        dataset: str | None = None,
        target_size: int | None = OFFICIAL_SIZE,
        device: Any = None,
    ):
        super().__init__(model, device)
        if target_size is not None and target_size % MULTIPLE:
            raise ValueError(f"RFR-Net's target_size must be a multiple of {MULTIPLE}, got {target_size}")
        self.weight_files = weight_files
        self.dataset = dataset
        self.target_size = target_size
        self.size = SizeSpec(native=target_size, multiple=MULTIPLE)

    def config(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "target_size": self.target_size,
            "mask": "valid = not (mask > 0), 3 channels",
            "input": "gt * valid in [0,1]",
            "output": "clamped to [0,1]",
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"RFR-Net needs {self.size}, got {tuple(images.shape[-2:])}")
        valid = (masks <= 0).to(self.device, torch.float32).expand(-1, 3, -1, -1)
        gt = images.to(self.device, torch.float32)
        return self.module(gt * valid, valid).clamp(0, 1).to(images.device)


def rfrnet(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "celeba",
    target_size: int | None = OFFICIAL_SIZE,
) -> RFRNetPredictor:
    """Load the generator released for ``dataset`` (celeba or psv) from the official container.

    ``checkpoint`` is the .pth file, a folder holding ``checkpoint_<name>.pth`` or ``hf://...``;
    it defaults to ``$HARNESS_WEIGHTS/rfrnet``. For a dataset without released weights only an
    explicit file is accepted.
    """
    info = rfrnet_weights(dataset)
    spec = rfrnet_dir() if checkpoint is None else checkpoint
    explicit_file = str(spec).startswith("hf://") or Path(spec).expanduser().is_file()
    if dataset not in RFRNET_FILES and not explicit_file:
        raise MissingWeightsError(f"RFR-Net has no official weights for '{dataset}'.\n" + info.missing_message([spec]))
    path = resolve_checkpoint(spec, info)
    model = RFRNet()
    load_strict(model, load_state_dict(path, key="generator"), path, "RFR-Net generator")
    return RFRNetPredictor(model, (path,), dataset, target_size, device)


def random_predictor(device: Any = None) -> Predictor:
    """RFR-Net with its initial random weights, for timing and shape checks."""
    return RFRNetPredictor(RFRNet(), device=device)
