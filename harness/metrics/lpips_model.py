"""LPIPS (v0.1, VGG by default) through the ``lpips`` package, with the backbone's real
download path (torchvision's cache under ``$TORCH_HOME/hub/checkpoints``).

Offline without a cached backbone the download fails; we then warn once and report LPIPS as
unavailable so that the other metrics still run. The failure is remembered beside the backbone's place
(``vgg16-397923af.pth.download-failed``), so later runs on the machine do not wait for the network again;
``ModelFiles.lpips_retry`` (``HARNESS_LPIPS_RETRY=1``, or deleting that file) tries again. To use
LPIPS offline, place ``vgg16-397923af.pth`` (or ``alexnet-owt-7be5be79.pth``) in
``$TORCH_HOME/hub/checkpoints``, or give torchvision's VGG16 file as ``ModelFiles.lpips_weights``
(``harness run --lpips-weights FILE`` or ``$HARNESS_LPIPS_WEIGHTS``, read by the command line).
Nothing here reads the environment or prints to stdout (tables go there).
"""
from __future__ import annotations

import sys
import warnings
from contextlib import redirect_stdout
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from harness.metrics.model_files import ModelFiles

BACKBONE_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth", "squeeze": "squeezenet1_1-b8a52dc0.pth"}

LpipsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def backbone_file(net: str = "vgg") -> Path:
    """Where torchvision keeps (or would download) the backbone."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def failure_marker(net: str = "vgg") -> Path:
    """Beside where the backbone would be: the machine's record that its download failed."""
    return backbone_file(net).with_name(BACKBONE_FILES[net] + ".download-failed")


def backbone_status(net: str = "vgg", files: ModelFiles = ModelFiles()) -> str:
    """For ``harness list``: where the backbone comes from, or why LPIPS is off."""
    given = files.lpips_weights
    if given:
        return f"LPIPS backbone from $HARNESS_LPIPS_WEIGHTS ({given}{'' if Path(given).is_file() else ': missing'})"
    if backbone_file(net).is_file():
        return "LPIPS backbone present"
    if failure_marker(net).is_file():
        return (f"LPIPS backbone missing ({backbone_file(net)}); the download failed before, not retried "
                f"(HARNESS_LPIPS_RETRY=1 or delete {failure_marker(net)})")
    return f"LPIPS backbone missing ({backbone_file(net)}; downloaded on first use)"


def _load_backbone(model: torch.nn.Module, path: str) -> None:
    """Torchvision's VGG16 ``features`` into lpips's slices (``sliceK.<index>`` is ``features.<index>``)."""
    from harness.checkpoints import CheckpointError, load_state_dict
    from harness.hashing import file_sha256

    if not file_sha256(path).startswith(BACKBONE_FILES["vgg"].split("-")[1].split(".")[0]):
        raise CheckpointError(f"{path} is not torchvision's {BACKBONE_FILES['vgg']} (its sha256 does not start with "
                              "397923af); LPIPS needs exactly that backbone")
    copy_backbone(model, load_state_dict(path))


def copy_backbone(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Torchvision VGG16 tensors ``features.<index>.*`` into lpips's ``slice<k>.<index>.*``."""
    mapped = {name: state[f"features.{name.split('.', 1)[1]}"] for name in model.net.state_dict()}
    model.net.load_state_dict(mapped, strict=True)


@lru_cache(maxsize=None)
def _build(net: str, device: str, files: ModelFiles) -> torch.nn.Module | None:
    """One model per network, device and backbone source (all explicit, so the cache is keyed by them)."""
    if files.lpips_off:
        return None
    given = str(files.lpips_weights) if files.lpips_weights and net == "vgg" else None
    if (not given and not backbone_file(net).is_file() and failure_marker(net).is_file()
            and not files.lpips_retry):
        warnings.warn(f"LPIPS unavailable: {backbone_status(net)}. LPIPS is left empty; the other metrics run.",
                      RuntimeWarning, stacklevel=2)
        return None
    try:
        import lpips

        with warnings.catch_warnings(), redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version="0.1", verbose=False, pnet_rand=bool(given))
            if given:
                _load_backbone(model, given)
    except Exception as error:  # offline download failure, missing file, broken install
        if given:
            raise
        try:
            failure_marker(net).parent.mkdir(parents=True, exist_ok=True)
            failure_marker(net).write_text(f"{type(error).__name__}: {error}\n")
        except OSError:
            pass
        warnings.warn(
            f"LPIPS unavailable ({type(error).__name__}: {error}). LPIPS is left empty; the other metrics run. "
            f"To enable it offline put {BACKBONE_FILES.get(net, net)} in {torch.hub.get_dir()}/checkpoints "
            f"or pass --lpips-weights FILE; the download is not tried again until {failure_marker(net)} is deleted.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return model.to(device).eval()


def lpips_distance(
    net: str = "vgg", device: str | torch.device = "cpu", files: ModelFiles = ModelFiles()
) -> LpipsFn | None:
    """A function (a, b in [0,1], [B,3,H,W]) → per-image LPIPS, or None when unavailable.

    Inputs go to lpips on [-1,1] (``2x - 1``, i.e. MISF's Normalize(0.5, 0.5)).
    """
    model = _build(net, str(device), files)
    if model is None:
        return None

    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(a.to(device) * 2 - 1, b.to(device) * 2 - 1).flatten().cpu()

    return distance


def lpips_vgg_float(device: str | torch.device = "cpu", files: ModelFiles = ModelFiles()):
    """The paper profile's LPIPS (VGG v0.1 on the float composite), built once on ``device``."""
    distance = lpips_distance("vgg", device, files)
    if distance is None:
        return None
    return lambda views: distance(views.composite, views.truth).tolist()
