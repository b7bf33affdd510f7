"""Harness predictors for MISF and its ablation variants.

A missing weight file is an error naming the official location, never a silent run on random
weights (the official loader's failure mode, docs/misf.md §11). Random weights exist only on request
(``checkpoint="random"`` or ``random_weights=True``) for tests and demos, and are flagged by
``untrained``.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch

from harness.checkpoints import load_state_dict, load_strict, resolve_checkpoint
from harness.predictor import SizeSpec, TorchPredictor
from misf.networks import InpaintGenerator, build_generator
from misf.weights import METHOD_VARIANTS, WEIGHTS, weight_file_name


class MISFPredictor(TorchPredictor):
    """Runs an :class:`InpaintGenerator` on ``cat(image*(1-mask), mask)``; output clamped to [0,1].

    Square sides that are multiples of 4 only: the official code scrambles its feature kernels on
    non-square input (docs/misf.md §6), so the harness pads or resizes to a square instead.
    """

    code_version = "1"  # bump when a change moves the outputs (tests/test_code_versions.py)

    size = SizeSpec(native=None, square=True, multiple=4)

    def __init__(
        self,
        name: str,
        generator: InpaintGenerator,
        weight_file: Path | None,
        device: str | torch.device | None = None,
        seed: int | None = None,
    ):
        super().__init__(generator, device)
        self.name = name
        self.weight_files = (weight_file,) if weight_file is not None else ()
        #: True when the weights are a seeded random initialisation, not a trained checkpoint.
        self.untrained = weight_file is None
        self.seed = seed

    @property
    def feature_level(self) -> int | None:
        """SIFB level whose features are filtered (3 for MISF), or None."""
        return self.module.filtering.feature_level

    def config(self) -> dict[str, Any]:
        config = {"variant": METHOD_VARIANTS[self.name], **asdict(self.module.filtering), "hole_fill": 0.0}
        if self.untrained:
            config["random_weights_seed"] = self.seed
        return config

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return self.module(self._generator_input(images, masks)).clamp_(0, 1).to(images.device)

    @torch.no_grad()
    def features(self, images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encoder features ``F1``..``F3`` and, at the filtered level l, ``Fl_hat`` (after filtering)."""
        return self.module.forward_features(self._generator_input(images, masks))[1]

    def _generator_input(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if not self.size.accepts(height, width):
            raise ValueError(
                f"{self.name} needs square inputs with sides a multiple of {self.size.multiple}, got {height}x{width}; "
                "pad or resize first (the official code silently scrambles kernels on non-square inputs)"
            )
        if images.shape[1] != 3 or masks.shape[1] != 1 or masks.shape[-2:] != images.shape[-2:]:
            raise ValueError(
                f"expected images [B,3,H,W] and masks [B,1,H,W], got {tuple(images.shape)}, {tuple(masks.shape)}"
            )
        images = images.to(self.device, torch.float32)
        masks = masks.to(self.device, torch.float32)
        return torch.cat([images * (1 - masks), masks], dim=1)


def build_predictor(
    method: str,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    dataset: str | None = None,
    random_weights: bool = False,
    seed: int = 0,
) -> MISFPredictor:
    """Load ``method``'s generator strictly from a checkpoint, or seed random weights on request."""
    variant = METHOD_VARIANTS[method]
    file_name = weight_file_name(method, dataset)
    if random_weights or checkpoint == "random":
        if checkpoint not in (None, "random"):
            raise ValueError(f"{method}: random_weights=True conflicts with checkpoint={checkpoint!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            generator = build_generator(variant)
        return MISFPredictor(method, generator, None, device, seed=int(seed))
    path = resolve_checkpoint(checkpoint, WEIGHTS[method], file_name=file_name)
    generator = build_generator(variant, init_weights=False)
    load_strict(generator, load_state_dict(path, key="generator"), path, f"{method} generator")
    return MISFPredictor(method, generator, path, device)


def _factory(method: str, doc: str) -> Callable[..., MISFPredictor]:
    """The registered factory of one variant (its options: dataset, random_weights, seed)."""

    def factory(
        checkpoint: str | None = None, device: Any = None, dataset: str | None = None,
        random_weights: bool = False, seed: int = 0,
    ) -> MISFPredictor:
        return build_predictor(method, checkpoint, device, dataset, random_weights, seed)

    factory.__name__ = factory.__qualname__ = method.replace("-", "_")
    factory.__doc__ = doc
    return factory


misf = _factory("misf", "Official MISF: feature filtering at F3 and image filtering, interactive KPB.")
misf_img_filter = _factory("misf-img-filter", "Img-Filter (Sec. 3.1): predictive filtering of the corrupted image only.")
misf_sem_filter_f1 = _factory("misf-sem-filter-f1", "Sem-Filter at F1 (Table 4).")
misf_sem_filter_f2 = _factory("misf-sem-filter-f2", "Sem-Filter at F2 (Table 4).")
misf_sem_filter_f3 = _factory("misf-sem-filter-f3", "Sem-Filter at F3 (Tables 3 and 4).")
misf_en_decoder = _factory("misf-en-decoder", "En-decoder (Sec. 5.4): the SIFB without any dynamic filtering.")
misf_en_decoder_filter = _factory(
    "misf-en-decoder-filter", "En-decoder-Filter (Sec. 5.4): En-decoder plus image-level predictive filtering of its output."
)


def random_predictor(device: Any = None) -> MISFPredictor:
    """MISF with seeded random weights, for timing (benchmarks/baselines_cpu_time.py)."""
    return build_predictor("misf", "random", device)
