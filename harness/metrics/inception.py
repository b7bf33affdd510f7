"""Inception-v3 pool features (2048-d) for FID, KID and P-IDS/U-IDS.

The extractor is torch-fidelity's ``FeatureExtractorInceptionV3`` (``inception-v3-compat``): the
TensorFlow ``inception-2015-12-05`` graph of the FID reference code ported to PyTorch. It takes
uint8 [B,3,H,W] images of any size and resizes them itself to 299x299 (:data:`RESIZE`).
Weights are the file torch-fidelity downloads (:data:`INCEPTION_FILE` from :data:`INCEPTION_URL`),
found by :func:`inception_weights`; offline and absent, they are a
:class:`~harness.checkpoints.MissingWeightsError`, never a hang or random weights.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from harness.checkpoints import MissingWeightsError, load_state_dict
from harness.environment import Environment
from harness.hashing import file_sha256

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
        f"$HARNESS_INCEPTION_WEIGHTS."
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


def inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The weights file: ``path``, else ``$HARNESS_INCEPTION_WEIGHTS``, else torch hub's
    ``checkpoints/`` folder, else downloaded there from :data:`INCEPTION_URL` (as torch-fidelity's
    ``load_state_dict_from_url`` does) when not offline (``HF_HUB_OFFLINE``) and the URL answers."""
    named = path if path is not None else Environment.read().inception_weights
    if named is not None:
        named = Path(named).expanduser()
        if not named.is_file():
            raise _missing(f"{named} is not a file")
        return named
    hub = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if hub.is_file():
        return hub
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

    def __init__(self, device: str | torch.device = "cpu", weights: str | os.PathLike | None = None):
        path = inception_weights(weights)
        load_state_dict(path)  # only a plain state_dict: torch-fidelity itself reads it with weights_only=False
        module = FeatureExtractorInceptionV3("inception-v3-compat", [FEATURE], feature_extractor_weights_path=str(path))
        self._setup(module, f"torch-fidelity {torch_fidelity.__version__} inception-v3-compat/{FEATURE} "
                            f"sha256:{file_sha256(path)}", RESIZE, device)

    @classmethod
    def from_module(cls, module: torch.nn.Module, name: str, resize: str = "none (the module's own)",
                    device: str | torch.device = "cpu") -> InceptionFeatures:
        """Wrap any module taking the uint8 batch and returning [B,D] (or a tuple led by it);
        ``identity`` is ``name`` and the sha256 of its state_dict."""
        self = cls.__new__(cls)
        self._setup(module, f"{name} sha256:{_state_sha256(module)}", resize, device)
        return self

    def _setup(self, module: torch.nn.Module, identity: str, resize: str, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.identity = identity
        self.resize = resize

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 images [B,3,H,W], got {images.dtype} {tuple(images.shape)}")
        with torch.inference_mode():
            out = self.module(images.to(self.device))
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.reshape(len(images), -1).to("cpu", torch.float64).numpy()
