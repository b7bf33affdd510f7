"""MAT (Li et al., CVPR 2022) as a harness predictor, called as the official ``generate_image.py`` calls it.

Per image the official script feeds ``image / 127.5 - 1``, the mask as read (1 = known, not
binarised), ``z = np.random.randn(1, 512)`` (float64, cast inside the mapping network), an empty
label and truncation 1, and rounds ``out * 127.5 + 127.5`` to uint8. The network composites the
known pixels itself. MAT is random at test time (dropout in both stages, a latent z, and per-layer
noise in ``'random'`` mode), and the official script draws all of it from generators seeded once
with 240 at start-up, so image k's result depends on k. Here every item is processed as image 1
of a fresh official run: one item per forward, and right before it ``torch.manual_seed(seed)``
and ``z = np.random.RandomState(seed).randn(1, 512)``. The prediction is ``(out + 1) / 2``
clamped to [0, 1], the float the official uint8 step would round.

Weights: the released StyleGAN2-ADA ``.pkl`` (its ``G_ema``, read by baselines/safe_pickle.py
without running its embedded code), a plain state dict (IOPaint's ``Places_512_FullData_G.pth``)
or a ``.safetensors`` re-host (fp16 copies are cast to float32 and marked in the config). The
model resolution (512 or 256) comes from the weights.
"""
from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from baselines.mat_networks import NOISE_MODES, Generator
from baselines.safe_pickle import PersistentRecord, load_network_pickle, record_state_dict
from baselines.weights import MAT_WEIGHTS, mat_dir
from harness.checkpoints import CheckpointError, first_line, load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import Predictor, SizeSpec, TorchPredictor

DEFAULT_SEED = 240  # generate_image.py seeds random, numpy and torch with 240
Z_DIM = 512
_DECODER_BLOCK = re.compile(r"^synthesis\.dec\.Dec_(\d+)x\1\.")
_SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}


def default_noise_mode(resolution: int) -> str:
    """generate_image.py defaults to 'const' but forces 'random' for any resolution other than 512."""
    return "const" if resolution == 512 else "random"


class MATPredictor(TorchPredictor):
    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "mat"

    def __init__(self, model: Generator, seed: int = DEFAULT_SEED, noise_mode: str | None = None,
                 weight_files: tuple[Path, ...] = (), weights_format: str = "random", device: Any = None):
        super().__init__(model, device)
        noise_mode = default_noise_mode(model.resolution) if noise_mode is None else noise_mode
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"mat: noise_mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
        self.seed, self.noise_mode = int(seed), noise_mode
        self.size = SizeSpec(native=model.resolution)
        self.weight_files, self.weights_format = weight_files, weights_format
        self.untrained = not weight_files

    def config(self) -> dict[str, Any]:
        return {
            "model": f"MAT generator {self.module.resolution}x{self.module.resolution}",
            "weights_format": self.weights_format,
            "seed": self.seed,
            "seeding": "per item: torch.manual_seed(seed); z = np.random.RandomState(seed).randn(1, 512)",
            "noise_mode": self.noise_mode,
            "truncation_psi": 1,
            "input": "image * 2 - 1, mask = 1 - hole (not binarised)",
            "output": "clamp((out + 1) / 2, 0, 1), before the official uint8 rounding",
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        out = []
        for image, mask in zip(images, masks):  # one item per forward, each seeded alike
            image = image[None].to(self.device, torch.float32) * 2 - 1
            known = 1 - mask[None].to(self.device, torch.float32)
            torch.manual_seed(self.seed)
            z = torch.from_numpy(np.random.RandomState(self.seed).randn(1, Z_DIM)).to(self.device)
            out.append(((self.module(image, known, z, self.noise_mode) + 1) / 2).clamp(0, 1))
        return torch.cat(out).to(images.device)


def resolution_of(state: Mapping[str, Any], path: Path | str) -> int:
    """The generator's resolution: its largest second-stage decoder block ``synthesis.dec.Dec_RxR``."""
    sizes = [int(match[1]) for key in state if (match := _DECODER_BLOCK.match(key))]
    if not sizes:
        raise CheckpointError(f"{path} is not a MAT generator checkpoint: no synthesis.dec.Dec_RxR keys")
    return max(sizes)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file (8-byte header length, JSON header, raw little-endian data), read without code."""
    data = path.read_bytes()
    try:
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8: 8 + length])
        body = memoryview(data)[8 + length:]
        state = {}
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            start, end = entry["data_offsets"]
            flat = torch.frombuffer(bytearray(body[start:end]), dtype=_SAFETENSORS_DTYPES[entry["dtype"]])
            state[key] = flat.reshape(entry["shape"])
    except (struct.error, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path} is not a readable .safetensors file: {first_line(error)}") from error
    return state


def read_generator_state(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The generator's state dict and the file's format: ``.pkl`` snapshot, ``.safetensors`` or torch.save."""
    if path.suffix == ".pkl":
        try:
            data = load_network_pickle(path)
        except Exception as error:  # refused globals, truncated files: one line naming the file
            raise CheckpointError(f"Cannot read {path} as a StyleGAN2-ADA network pickle: {first_line(error)}") from error
        if not isinstance(data, dict) or not isinstance(data.get("G_ema"), PersistentRecord):
            raise CheckpointError(f"{path} is a pickle without a 'G_ema' network (not a MAT release .pkl)")
        return record_state_dict(data["G_ema"]), "pkl G_ema"
    if path.suffix == ".safetensors":
        state = read_safetensors(path)
    else:
        state = load_state_dict(path)
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()})
    return state, f"state dict ({'/'.join(dtypes)})"


def mat(checkpoint: str | os.PathLike | None = None, device: Any = None, seed: int = DEFAULT_SEED,
        noise_mode: str | None = None) -> Predictor:
    """Load MAT from a release ``.pkl``, a state-dict ``.pth`` or ``.safetensors``; default ``$HARNESS_WEIGHTS/mat``.

    ``seed`` (default 240) and ``noise_mode`` (default 'random' for a 256 model, 'const' at 512,
    as generate_image.py) set the per-item randomness; both enter the fingerprint.
    """
    folder = Path(checkpoint).expanduser() if checkpoint is not None else mat_dir()
    name = next((n for n in MAT_WEIGHTS.file_names if (folder / n).is_file()), None) if folder.is_dir() else None
    path = resolve_checkpoint(checkpoint if checkpoint is not None else folder, MAT_WEIGHTS, file_name=name)
    state, weights_format = read_generator_state(path)
    model = Generator(resolution_of(state, path))
    load_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path, "MAT generator")
    return MATPredictor(model, seed, noise_mode, (path,), weights_format, device)


def random_predictor(device: Any = None, resolution: int = 512) -> Predictor:
    """MAT with untrained weights (zeros), for timing and shape checks."""
    return MATPredictor(Generator(resolution), device=device)
