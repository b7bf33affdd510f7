"""StructureFlow (Ren et al. ICCV 2019) as a harness predictor, following the official test path.

Upstream reads three images per item (``src/data.py``, ``src/structure_flow.py::test``): the
ground truth, normalised to [-1,1] with holes set to 0; the mask (``> 0`` = hole); and a
structure image made offline in MATLAB by RTV smoothing ("tsmooth") of the **full ground
truth**, stored as uint8 and masked before stage 1. By default the predictor reproduces that
leak (it smooths ``ground_truth`` and declares ``reads_ground_truth``, so reports mark its
numbers); ``structure_from="image"`` smooths the hole-zeroed image instead, seeing only what a
user sees. ``predict(..., structure=S)`` takes a precomputed structure image (e.g. the MATLAB
outputs) instead of the Python RTV port.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines import rtv
from baselines.structureflow_networks import StructureFlow
from baselines.weights import structureflow_dir, structureflow_weights, weights_dataset
from harness.checkpoints import load_state_dict, load_strict, resolve_folder
from harness.predictor import SizeSpec, TorchPredictor

#: Where the structure image comes from: the official leak, or the image the user sees.
STRUCTURE_SOURCES = ("ground-truth", "image")


def rtv_structure(images: torch.Tensor, settings: str) -> torch.Tensor:
    """RTV structure [B,3,H,W] in [0,1] of [0,1] images, quantised to uint8 as the stored PNGs were."""
    out = [rtv.to_uint8(rtv.tsmooth(image, settings)) for image in images.permute(0, 2, 3, 1).cpu().double().numpy()]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0,1] -> [-1,1] as torchvision ``Normalize((0.5,)*3, (0.5,)*3)`` computes it."""
    return (images.float() - 0.5) / 0.5


class StructureFlowPredictor(TorchPredictor):
    """Both generators batched; RTV runs per image on CPU (scipy)."""

    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    name = "structureflow"
    # s_gen needs multiples of 8, f_gen 16; at 40 the reflect padding of the H/16 level fails
    size = SizeSpec(multiple=16, minimum=48)
    reads_ground_truth = True

    def __init__(
        self,
        model: StructureFlow,
        weight_files: tuple[Path, ...] = (),
        rtv_settings: str = rtv.DEFAULT_SETTINGS,
        structure_from: str = "ground-truth",
        device: Any = None,
    ):
        if rtv_settings not in rtv.SETTINGS:
            raise ValueError(f"Unknown RTV settings '{rtv_settings}'; choose one of {', '.join(rtv.SETTINGS)}")
        if structure_from not in STRUCTURE_SOURCES:
            raise ValueError(f"structure_from must be one of {', '.join(STRUCTURE_SOURCES)}, got '{structure_from}'")
        super().__init__(model, device)
        self.weight_files = weight_files
        self.rtv_settings = rtv_settings
        self.structure_from = structure_from
        self.reads_ground_truth = structure_from == "ground-truth"

    def config(self) -> dict[str, Any]:
        settings = rtv.SETTINGS[self.rtv_settings]
        return {
            "structure": f"RTV (tsmooth.m port, uint8) of the {'full ground truth' if self.reads_ground_truth else 'hole-zeroed image'}",
            "rtv": {"name": self.rtv_settings, "lambda": settings.lam, "sigma": settings.sigma,
                    "sharpness": settings.sharpness, "iterations": settings.iterations,
                    "pcg": [rtv.PCG_TOL, rtv.PCG_MAXIT]},
            "hole_fill": "0 in [-1,1]",
            "stage2_input": "raw stage-1 output",
            "mask_threshold": "> 0",
        }

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor,
        masks: torch.Tensor,
        *,
        ground_truth: torch.Tensor | None = None,
        structure: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``structure``: optional precomputed structure images, float [B,3,H,W] in [0,1], unmasked."""
        if not self.size.accepts(*images.shape[-2:]):
            raise ValueError(f"StructureFlow needs H and W multiples of 16 and at least 48, got {tuple(images.shape[-2:])}")
        holes = (masks > 0).float().to(self.device)
        if structure is None:
            source = ground_truth if self.reads_ground_truth else images
            if source is None:
                raise ValueError("StructureFlow smooths the full ground truth as upstream: pass ground_truth= "
                                 "(or structure=, or build it with structure_from='image')")
            structure = rtv_structure(source, self.rtv_settings)
        if structure.shape != images.shape:
            raise ValueError(f"structure must have the images' shape {tuple(images.shape)}, got {tuple(structure.shape)}")
        inputs = normalise(images.to(self.device)) * (1 - holes)
        out = self.module(inputs, normalise(structure.to(self.device)), holes)
        return ((out + 1) / 2).clamp(0, 1).to(images.device)


def structureflow(
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    dataset: str = "places2",
    rtv_settings: str = rtv.DEFAULT_SETTINGS,
    structure_from: str = "ground-truth",
) -> StructureFlowPredictor:
    """Load ``latest_net_s_gen.pth`` and ``latest_net_f_gen.pth`` from one folder, strictly.

    ``checkpoint`` defaults to ``$HARNESS_WEIGHTS/structureflow/<dataset>``. ``rtv_settings``:
    ``function-defaults`` (matches the repository's example structure images) or ``script``
    (``generate_structure_images.m``); ``structure_from``: ``ground-truth`` (official) or ``image``.
    """
    info = structureflow_weights(weights_dataset(dataset, checkpoint))
    s_file, f_file = resolve_folder(checkpoint, structureflow_dir(dataset), info, "StructureFlow")
    model = StructureFlow()
    load_strict(model.s_gen, load_state_dict(s_file), s_file, "StructureFlow structure generator")
    load_strict(model.f_gen, load_state_dict(f_file), f_file, "StructureFlow texture generator")
    return StructureFlowPredictor(model, (s_file, f_file), rtv_settings, structure_from, device)


def random_predictor(device: Any = None, structure_from: str = "ground-truth") -> StructureFlowPredictor:
    """StructureFlow with its initial random weights, for timing and shape checks."""
    return StructureFlowPredictor(StructureFlow(), structure_from=structure_from, device=device)
