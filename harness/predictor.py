"""The one interface every inpainting method implements.

A predictor sees only what a user of the method would see: the image with its holes
zeroed and the mask (1 = hole). Resizing to the method's native size, padding to its
size constraint, compositing and polarity are the harness's job, so that every method
is scored through the same code.
"""
from __future__ import annotations

import hashlib
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.errors import UsageError
from harness.hashing import file_sha256, sha256_json


@dataclass(frozen=True)
class SizeSpec:
    """What input sizes a method accepts.

    native: the side the method must run at (the harness resizes to it and back);
    None means "any size that meets the constraints below".
    square: height must equal width. multiple: each side must be a multiple of it.
    minimum: the smallest side the method runs at (the harness pads smaller images up to it).
    """

    native: int | None = None
    square: bool = False
    multiple: int = 1
    minimum: int = 1

    def accepts(self, height: int, width: int) -> bool:
        if self.native is not None and (height, width) != (self.native, self.native):
            return False
        if self.square and height != width:
            return False
        if min(height, width) < self.minimum:
            return False
        return height % self.multiple == 0 and width % self.multiple == 0

    def describe(self) -> list[Any]:
        """The rule as stored in fingerprints; ``minimum`` only where set, so older keys stay valid."""
        return [self.native, self.square, self.multiple, *([self.minimum] if self.minimum > 1 else [])]


class Predictor(ABC):
    """Base class of every method the harness evaluates.

    Subclasses set ``name`` and, where needed, ``size``; they implement ``predict`` and
    ``config`` (everything besides weights that changes the output). ``reads_ground_truth``
    is True for a method whose official preprocessing looks at the uncorrupted image
    (CTSDG's Canny edges); the harness then passes ``ground_truth=`` and marks the
    method's numbers in reports.
    """

    name: str = "unnamed"
    size: SizeSpec = SizeSpec()
    reads_ground_truth: bool = False
    #: True for random or untrained weights: reports mark such results in every table.
    untrained: bool = False
    #: Files whose content identifies the weights (hashed into the fingerprint).
    weight_files: tuple[Path, ...] = ()
    #: Version of this predictor's code path, part of the cache key: bump it when a change moves
    #: the outputs (a test holds each built-in version against a hash of the code it covers).
    #: None, the default for plug-ins, hashes the source file of the predictor's class instead.
    code_version: str | None = None

    @abstractmethod
    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """images float [B,3,H,W] in [0,1] (holes zeroed), masks float [B,1,H,W], 1 = hole.

        Returns the raw prediction, float [B,3,H,W] in [0,1], before compositing.
        """

    def config(self) -> dict[str, Any]:
        """Settings that change the output (besides weights); part of the fingerprint."""
        return {}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def identity(self) -> dict[str, Any]:
        """What the predictor *is*: name, class, config, size rule, weight hashes and how it runs
        (precision, memory format, compilation; harness.engine.execution), without code versions."""
        execution = getattr(self, "execution", None)
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "config": self.config(),
            "size": self.size.describe(),
            "weights": [file_sha256(p) for p in self.weight_files],
            "execution": execution.describe() if execution is not None else None,
        }

    def code_identity(self) -> str:
        """The explicit ``code_version``, else a hash of the source of the class's module."""
        if self.code_version is not None:
            return f"v{self.code_version}"
        try:
            source = inspect.getsource(inspect.getmodule(type(self)))
        except (OSError, TypeError):  # defined interactively: only the class name identifies it
            return f"unversioned:{type(self).__qualname__}"
        return "src:" + hashlib.sha256(source.encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        """Stable id of (identity, code version); the cache key's method part."""
        return sha256_json({**self.identity(), "code": self.code_identity()})[:32]


class ItemPredictor(Predictor):
    """A predictor told which manifest items it predicts: a folder of saved predictions
    (harness.predictions) reads each item's file. The runner calls :meth:`attach` once with the
    run's manifest before the fingerprint is read, so the identity can cover the files used."""

    @abstractmethod
    def attach(self, manifest: Any) -> None:
        """Bind to the run's manifest (:class:`harness.data.manifest.Manifest`)."""

    @abstractmethod
    def predict_items(self, item_ids: list[str], images: torch.Tensor,
                      masks: torch.Tensor) -> tuple[torch.Tensor, list[str | None]]:
        """Like :meth:`Predictor.predict` for the items ``item_ids``; also returns, per item, why it
        has no usable prediction (its row of the tensor is then ignored), or None."""

    def predict(self, images: torch.Tensor, masks: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} predicts manifest items: call predict_items")

    def run_info(self) -> dict[str, Any]:
        """Facts the run records in method.json (flags marked in every table), after attach."""
        return {}

    def notes(self) -> list[str]:
        """Lines for the run summary, after attach."""
        return []


def pick_device(device: str | torch.device | None) -> torch.device:
    """`None` means CUDA when present, else CPU; a device this machine does not have is a UsageError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"--device {device}: not a device name (cpu, cuda, cuda:1, mps)") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA GPU is usable here (torch.cuda.is_available() is False); "
                         "use --device cpu")
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return chosen


class TorchPredictor(Predictor):
    """A predictor around one ``torch.nn.Module`` run in eval mode without autograd."""

    def __init__(self, module: torch.nn.Module, device: str | torch.device | None = None):
        self._device = pick_device(device)
        self.module = module.to(self._device).eval()

    @property
    def device(self) -> torch.device:
        return self._device
