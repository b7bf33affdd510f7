"""big-LaMa (Suvorov et al., WACV 2022) as a harness predictor, following ``bin/predict.py``.

The official path (``configs/prediction/default.yaml``, ``InpaintingDataset``,
``DefaultInpaintingTrainingModule.forward``): image in [0,1]; mask 1 = hole; both padded at the
bottom and right to a multiple of 8 with ``np.pad(mode='symmetric')``; the mask binarised with
``> 0``; the generator sees ``cat(image * (1 - mask), mask)``; its sigmoid output is cropped back
to the input size. ``predict.py`` then composites ``mask * pred + (1 - mask) * image``, which is
the harness's own convention. The optional multi-scale refinement (``refine=True``) is not part
of the default path and is not implemented.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from baselines.lama_networks import FFCResNetGenerator
from baselines.lightning_checkpoint import read_lightning_state_dict
from baselines.weights import LAMA_WEIGHTS, lama_dir
from harness.checkpoints import load_strict, resolve_checkpoint
from harness.predictor import Predictor, TorchPredictor

#: ``dataset.pad_out_to_modulo`` of the official prediction config.
PAD_MODULO = 8
#: The Lightning module stores the generator as ``self.generator``.
GENERATOR_PREFIX = "generator."


def symmetric_indices(size: int, padded: int) -> torch.Tensor:
    """Source index of each output position of ``np.pad(mode='symmetric')`` at the far end."""
    index = torch.arange(padded) % (2 * size)
    return torch.where(index < size, index, 2 * size - 1 - index)


def pad_to_modulo(x: torch.Tensor, modulo: int) -> torch.Tensor:
    """Pad the bottom and right of every sample by mirroring it, edge included."""
    height, width = x.shape[-2:]
    rows = symmetric_indices(height, -(-height // modulo) * modulo).to(x.device)
    cols = symmetric_indices(width, -(-width // modulo) * modulo).to(x.device)
    return x[..., rows[:, None], cols]


class LamaPredictor(TorchPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "lama"

    def __init__(self, model: torch.nn.Module, weight_files: tuple[Path, ...] = (), device: Any = None):
        super().__init__(model, device)
        self.weight_files = weight_files

    def config(self) -> dict[str, Any]:
        return {
            "model": "big-lama",
            "pad_out_to_modulo": PAD_MODULO,
            "pad_mode": "symmetric",
            "mask": "hole = mask > 0",
            "input": "cat(image * (1 - hole), hole), image in [0,1]",
            "refine": False,
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        height, width = images.shape[-2:]
        image = pad_to_modulo(images.to(self.device, torch.float32), PAD_MODULO)
        hole = (pad_to_modulo(masks.to(self.device, torch.float32), PAD_MODULO) > 0).float()
        out = self.module(torch.cat([image * (1 - hole), hole], dim=1))
        return out[..., :height, :width].to(images.device)


def generator_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The generator's entries, prefix stripped; discriminator, losses and evaluators are dropped."""
    return {k.removeprefix(GENERATOR_PREFIX): v for k, v in state.items() if k.startswith(GENERATOR_PREFIX)}


def _resolve(spec: str | os.PathLike) -> Path:
    """A file, ``hf://``, or a folder holding ``best.ckpt`` or the unzipped ``models/best.ckpt``."""
    folder = Path(spec).expanduser()
    name = next((name for name in LAMA_WEIGHTS.file_names if (folder / name).is_file()), None)
    return resolve_checkpoint(spec, LAMA_WEIGHTS, file_name=name)


def lama(checkpoint: str | os.PathLike | None = None, device: Any = None) -> LamaPredictor:
    """Load big-lama from its Lightning ``best.ckpt``; ``checkpoint`` defaults to ``$HARNESS_WEIGHTS/lama``.

    Only the Places2-trained big-lama exists, so it takes no ``dataset`` option.
    """
    path = _resolve(lama_dir() if checkpoint is None else checkpoint)
    model = FFCResNetGenerator()
    load_strict(model, generator_state_dict(read_lightning_state_dict(path)), path, "big-lama generator")
    return LamaPredictor(model, (path,), device)


def random_predictor(device: Any = None) -> Predictor:
    """big-lama with its initial random weights, for timing and shape checks."""
    return LamaPredictor(FFCResNetGenerator(), device=device)
