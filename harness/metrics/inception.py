"""Inception-v3 pool features (2048-d) for FID, KID and P-IDS/U-IDS.

The extractor is torch-fidelity's ``FeatureExtractorInceptionV3`` (``inception-v3-compat``): the
TensorFlow ``inception-2015-12-05`` graph of the FID reference code ported to PyTorch. It takes
uint8 [B,3,H,W] images of any size and resizes them itself to 299x299 (:data:`RESIZE`).
Its weights: the official file torch-fidelity downloads (:data:`INCEPTION_FILE` from
:data:`INCEPTION_URL`) when one is named (``--inception-weights``, ``$HARNESS_INCEPTION_WEIGHTS``)
or lies in torch hub's cache; otherwise the offline trunk of :mod:`harness.metrics.inception_trunk`
mapped onto the same module (no download at all); without either, downloaded as torch-fidelity
does. Offline and absent, they are a :class:`~harness.checkpoints.MissingWeightsError`, never a
hang or random weights.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from harness.checkpoints import CheckpointError, MissingWeightsError, load_state_dict
from harness.environment import Environment
from harness.hashing import file_sha256
from harness.metrics.functional import truncated
from harness.metrics.inception_trunk import (INSTALL, MAPPED_SHA256, PROVENANCE, canonical_sha256, fidelity_module,
                                             fidelity_state_dict, find_trunk, load_trunk)

INCEPTION_URL = URL_INCEPTION_V3
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[-1]  # weights-inception-2015-12-05-6726825d.pth
FEATURE = "2048"  # torch-fidelity's name of the pool_3 features FID and KID use
RESIZE = (
    "299x299 inside the extractor: TensorFlow-1.x bilinear resize (torch-fidelity "
    "interpolate_bilinear_2d_like_tensorflow1x, align_corners=False, no antialiasing) of the uint8 image as float"
)
_PROBE_TIMEOUT_S = 10


def _missing(reason: str) -> MissingWeightsError:
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return MissingWeightsError(
        f"No Inception-v3 weights for FID/KID/IDS ({reason}). Expected file: {INCEPTION_FILE}.\n"
        f"Official download (torch-fidelity): {INCEPTION_URL}\n"
        f"Put it at {hub} (torch hub's cache, where torch-fidelity looks) or anywhere named by "
        f"$HARNESS_INCEPTION_WEIGHTS.\nOr, with no download: `{INSTALL}` (the same network's offline trunk)."
    )


def _offline() -> bool:
    return Environment.read().offline


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=_PROBE_TIMEOUT_S):
            return True
    except urllib.error.HTTPError:  # the server answered; the download will say what is wrong
        return True
    except OSError:
        return False


def official_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The official file when one is named (``path``, else ``$HARNESS_INCEPTION_WEIGHTS``; a named
    file that is missing is an error) or lies in torch hub's ``checkpoints/`` folder; else None."""
    named = path if path is not None else Environment.read().inception_weights
    if named is not None:
        named = Path(named).expanduser()
        if not named.is_file():
            raise _missing(f"{named} is not a file")
        return named
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    return hub if hub.is_file() else None


def inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file: :func:`official_weights`, else downloaded into torch hub's ``checkpoints/``
    from :data:`INCEPTION_URL` (as torch-fidelity's ``load_state_dict_from_url`` does) when not
    offline (``HF_HUB_OFFLINE``) and the URL answers."""
    found = official_weights(path)
    if found is not None:
        return found
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if _offline():
        raise _missing(f"not in {hub.parent} and HF_HUB_OFFLINE is set")
    if not _reachable(INCEPTION_URL):
        raise _missing(f"not in {hub.parent} and {INCEPTION_URL} cannot be reached")
    hub.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(INCEPTION_URL, str(hub), progress=False)
    except OSError as error:
        raise _missing(f"download failed: {error}") from error
    return hub


def _state_sha256(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class InceptionFeatures:
    """A feature extractor built once on a device: ``features(images)`` maps uint8
    [B,3,H,W] to float64 [B,D] (D = 2048 for Inception). ``identity`` names the extractor and
    its weights' sha256 (for cache keys); ``resize`` says how images reach the network's size."""

    def __init__(self, device: str | torch.device = "cpu", weights: str | os.PathLike | None = None,
                 trunk: str | os.PathLike | None = None):
        """``weights``: the official file (else :func:`official_weights`'s search); ``trunk``: the
        offline trunk's file (else :func:`~harness.metrics.inception_trunk.find_trunk`'s search)."""
        name = f"torch-fidelity {torch_fidelity.__version__} inception-v3-compat/{FEATURE}"
        if official_weights(weights) is None and find_trunk(trunk) is not None:
            state = fidelity_state_dict(load_trunk("cpu", trunk))
            mapped = canonical_sha256(state)
            if mapped != MAPPED_SHA256:
                raise CheckpointError(f"the offline trunk mapped onto torch-fidelity's Inception hashes to {mapped}, "
                                      f"expected {MAPPED_SHA256}")
            self._setup(fidelity_module(state), f"{name} offline-trunk mapped-sha256:{mapped}", RESIZE, device, PROVENANCE)
            return
        path = inception_weights(weights)
        load_state_dict(path)  # only a plain state_dict: torch-fidelity itself reads it with weights_only=False
        module = FeatureExtractorInceptionV3("inception-v3-compat", [FEATURE], feature_extractor_weights_path=str(path))
        sha256 = file_sha256(path)
        self._setup(module, f"{name} sha256:{sha256}", RESIZE, device,
                    {"file": INCEPTION_FILE, "sha256": sha256, "origin": f"torch-fidelity's official weights ({INCEPTION_URL})"})

    @classmethod
    def from_module(cls, module: torch.nn.Module, name: str, resize: str = "none (the module's own)",
                    device: str | torch.device = "cpu", provenance: dict | None = None,
                    to_uint8: Callable[[torch.Tensor], torch.Tensor] = truncated) -> InceptionFeatures:
        """Wrap any module taking the uint8 batch and returning [B,D] (or a tuple led by it);
        ``identity`` is ``name`` and the sha256 of its state_dict; ``to_uint8`` makes the float
        images it is shown uint8 (default: the truncation of the saved PNGs of MISF and LaMa)."""
        self = cls.__new__(cls)
        self._setup(module, f"{name} sha256:{_state_sha256(module)}", resize, device, provenance)
        self.to_uint8 = to_uint8
        return self

    def _setup(self, module: torch.nn.Module, identity: str, resize: str, device: str | torch.device,
               provenance: dict | None = None) -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.identity = identity
        self.resize = resize
        self.provenance = provenance
        self.to_uint8 = truncated

    def describe(self) -> dict:
        """What results record about the features: the extractor's identity, resize and weights' provenance."""
        return {"extractor": self.identity, "resize": self.resize, "weights": self.provenance}

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [B,3,H,W], got {images.dtype} {tuple(images.shape)}")
        with torch.inference_mode():
            out = self.module(images.to(self.device))
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.reshape(len(images), -1).to("cpu", torch.float64).numpy()
