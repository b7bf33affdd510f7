"""Per-item scoring under a profile: the views its metrics read, and their functions built once.

A metric that needs a model (LPIPS) is built on the run's device the first time it is
needed and reused; a metric whose model is unavailable (LPIPS backbone missing offline) is
reported as unavailable and left empty, so the others still run.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence

import torch

from harness.metrics.functional import composite
from harness.metrics.model_files import ModelFiles
from harness.metrics.registry import ITEM, Metric, Profile, import_target


class Views:
    """What item metrics read: the clamped float composite, the truth, the masks, and the
    profile's quantised pair (each computed once, on first use, by whichever thread needs it)."""

    def __init__(self, images: torch.Tensor, predictions: torch.Tensor, masks: torch.Tensor, quantise: Callable):
        self.images, self.predictions, self.masks = images, predictions, masks
        self._quantise = quantise

    @cached_property
    def composite(self) -> torch.Tensor:
        return composite(self.predictions, self.images, self.masks).clamp(0, 1)

    @cached_property
    def truth(self) -> torch.Tensor:
        return self.images.clamp(0, 1)

    @cached_property
    def quantised(self) -> tuple[Any, Any]:
        """(quantised composite, quantised truth) in the profile's representation."""
        return self._quantise(self.composite, self.truth)


class Scorer:
    """The item metrics of ``profile`` (optionally only the named columns), on ``device``;
    ``reference``: the reference code itself (scikit-image) where a metric names one; ``files``:
    where model-based metrics' networks come from."""

    def __init__(self, profile: Profile, device: str | torch.device = "cpu", names: Sequence[str] | None = None,
                 reference: bool = False, files: ModelFiles = ModelFiles()):
        self.profile, self.files = profile, files
        self.device = torch.device(device)
        self.reference = reference
        self.metrics = [m for m in profile.metric_objects() if m.kind == ITEM and (names is None or m.name in names)]
        self._quantise = import_target(profile.quantise)
        self._functions: dict[str, Callable | None] = {}

    def function(self, metric: Metric) -> Callable | None:
        if metric.key not in self._functions:
            implementation = metric.load(self.reference)
            self._functions[metric.key] = implementation(self.device, self.files) if "model" in metric.needs else implementation
        return self._functions[metric.key]

    def available(self, names: Sequence[str]) -> tuple[str, ...]:
        """The named columns whose metric can be computed here (builds models when first asked)."""
        return tuple(m.name for m in self.metrics if m.name in names and self.function(m) is not None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def views(self, images: torch.Tensor, predictions: torch.Tensor, masks: torch.Tensor) -> Views:
        """The views of a batch on this scorer's device, to score in parts (possibly in two threads)."""
        device = self.device
        return Views(images.to(device), predictions.to(device), masks.to(device), self._quantise)

    def score(self, views: Views, wanted: Sequence[str] | None = None, part: str = "all") -> list[dict[str, float]]:
        """Per-image values of the wanted columns (all available ones by default); ``part`` "model"
        or "plain" computes only the metrics that run with the model (a network such as LPIPS, or
        float32 convolutions) or only the others, which never touch TF32's process-wide switch."""
        wanted = self.names if wanted is None else wanted
        chosen = [m for m in self.metrics if m.name in wanted and (part == "all" or m.runs_with_the_model == (part == "model"))]
        rows: list[dict[str, float]] = [{} for _ in range(len(views.masks))]
        with no_tf32() if any(m.runs_with_the_model for m in chosen) else nullcontext():
            for metric in chosen:
                function = self.function(metric)
                if function is None:
                    continue
                for row, value in zip(rows, function(views)):
                    row[metric.name] = float(value)
        return rows

    def __call__(
        self, images: torch.Tensor, predictions: torch.Tensor, masks: torch.Tensor, wanted: Sequence[str] | None = None,
        part: str = "all",
    ) -> list[dict[str, float]]:
        """:meth:`score` of a batch."""
        return self.score(self.views(images, predictions, masks), wanted, part)


@contextmanager
def no_tf32() -> Iterator[None]:
    """Full float32 precision for metric models (LPIPS) on GPUs that would use TF32 by default."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
