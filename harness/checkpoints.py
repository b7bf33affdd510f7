"""Finding and safely reading weight files.

A checkpoint is named by a local path or ``hf://owner/repo/path/in/repo[@revision][#sha256=HEX]``
(downloaded through huggingface-hub and kept in its cache). Files are read with
``torch.load(weights_only=True)``: no pickled code is ever executed. A missing file is an
error that says where the official weights live, never a silent run on random weights.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness.environment import Environment
from harness.errors import UsageError
from harness.hashing import file_sha256

HF_PATTERN = re.compile(
    r"^hf://(?P<repo>[^/]+/[^/@#]+)/(?P<file>[^@#]+)(?:@(?P<rev>[^#]+))?(?:#sha256=(?P<sha>[0-9a-fA-F]{64}))?$"
)


class MissingWeightsError(FileNotFoundError):
    """Raised when a method's weights cannot be found; the message says how to get them."""


class CheckpointError(UsageError):
    """A weight file that is not the checkpoint the method needs (not torch.save, wrong keys)."""


@dataclass(frozen=True)
class WeightsInfo:
    """Where a method's official weights live and what they are called."""

    method: str
    file_names: tuple[str, ...]
    source: str
    note: str = ""

    def missing_message(self, looked_at: Iterable[Path | str] = ()) -> str:
        lines = [
            f"No weights for '{self.method}'. Expected file(s): {', '.join(self.file_names)}.",
            f"Official download: {self.source}",
        ]
        looked = [str(p) for p in looked_at]
        if looked:
            lines.append("Looked at: " + ", ".join(looked))
        lines.append(
            "Pass --checkpoint PATH (a file, or a folder holding the files under these names), "
            "or put them in $HARNESS_WEIGHTS (default ~/.cache/inpainting-harness/weights)."
        )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def weights_dir() -> Path:
    return Environment.read().weights_dir


def resolve_checkpoint(spec: str | os.PathLike | None, info: WeightsInfo, file_name: str | None = None) -> Path:
    """Turn a checkpoint spec into a local file.

    ``spec`` may be a file, a folder (``file_name`` is looked up inside it), an ``hf://`` URL,
    or None (the default folder from :func:`weights_dir`). ``file_name`` defaults to the first
    official name.
    """
    file_name = file_name or info.file_names[0]
    if spec is not None and str(spec).startswith("hf://"):
        return _download_hf(str(spec), info)
    base = Path(spec).expanduser() if spec is not None else weights_dir()
    candidate = base / file_name if base.is_dir() else base
    if not candidate.is_file():
        raise MissingWeightsError(info.missing_message([candidate]))
    return candidate


def resolve_folder(spec: str | os.PathLike | None, default: Path, info: WeightsInfo, method: str) -> list[Path]:
    """Every official file of a method released as several files, from one folder (``spec``, or
    ``default`` when None); a missing file is named with its full path."""
    names = ", ".join(info.file_names)
    if spec is not None and str(spec).startswith("hf://"):
        raise UsageError(f"{method} reads {len(info.file_names)} files ({names}) from a folder; an hf:// URL names "
                         f"one file: put them in a folder and pass --checkpoint FOLDER (got {spec})")
    folder = Path(spec).expanduser() if spec is not None else default
    if folder.is_file():
        raise ValueError(f"{method} needs a folder holding {names}, got the file {folder}")
    return [resolve_checkpoint(folder / name, info) for name in info.file_names]


def _download_hf(spec: str, info: WeightsInfo) -> Path:
    match = HF_PATTERN.match(spec)
    if not match:
        raise ValueError(f"Bad Hugging Face checkpoint '{spec}'; expected hf://owner/repo/path[@revision][#sha256=HEX]")
    from huggingface_hub import hf_hub_download

    try:
        path = Path(
            hf_hub_download(repo_id=match["repo"], filename=match["file"], revision=match["rev"] or None)
        )
    except Exception as error:  # offline, missing repo or file: all mean "weights unavailable"
        raise MissingWeightsError(
            f"Could not get {spec} from the Hugging Face Hub or its local cache ({type(error).__name__}: {error}).\n"
            + info.missing_message()
        ) from error
    if match["sha"] and file_sha256(path) != match["sha"].lower():
        raise ValueError(f"{spec}: sha256 of {path} is {file_sha256(path)}, expected {match['sha'].lower()}")
    return path


def load_state_dict(path: Path | str, key: str | None = None) -> dict[str, Any]:
    """Read a state_dict safely, unwrap ``{key: state_dict}`` containers, strip ``module.``."""
    data = read_checkpoint(path)
    if key is not None and isinstance(data, Mapping) and key in data:
        data = data[key]
    if not _tensors(data):
        raise CheckpointError(f"{path} does not hold a state_dict" + (f" under '{key}'" if key else ""))
    return {k.removeprefix("module."): v for k, v in data.items()}


#: How the two torch.save formats begin: a zip archive (since torch 1.6) or a legacy pickle.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def read_checkpoint(path: Path | str) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors for files that are not checkpoints."""
    import torch

    check_torch_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"Cannot read checkpoint {path} safely (weights_only=True): {first_line(error)}") from error


def check_torch_file(path: Path | str) -> None:
    """An empty file or one that is no torch.save output (an image, a text file) is a one-line error."""
    with Path(path).open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted download or copy? Fetch the file again")
    if not head.startswith(_TORCH_MAGIC):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (a file written by torch.save; it starts with {head!r})")


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (torch's are paragraphs), at most 200 characters."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)[:200]


def _tensors(data: Any) -> bool:
    import torch

    return isinstance(data, Mapping) and bool(data) and all(isinstance(v, torch.Tensor) for v in data.values())


def load_strict(module: Any, state: Mapping[str, Any], path: Path | str, what: str) -> None:
    """``module.load_state_dict(state, strict=True)``; a mismatch is one line naming the file and a few keys."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(found)} {kind} (e.g. {', '.join(found[:3])})"
                 for kind, found in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes))
                 if found]
        raise CheckpointError(f"{path} is not a {what} checkpoint: {'; '.join(parts)}")
    module.load_state_dict(state, strict=True)
