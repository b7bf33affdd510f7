"""The ``state_dict`` of a PyTorch Lightning checkpoint, read without Lightning or OmegaConf.

Lightning pickles more than tensors: callback states keyed by their class
(``pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint``), hyper-parameters as
OmegaConf containers, the container's type. ``torch.load(weights_only=True)`` refuses those
classes and a plain ``torch.load`` would import and run them. This module is a pickle module for
``torch.load(pickle_module=...)`` whose unpickler resolves only tensor-rebuilding functions and
plain containers; any other global becomes an inert stand-in class that records what the file
gives it and runs nothing, so no code named by the file is executed.
"""
from __future__ import annotations

import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch

from harness.checkpoints import CheckpointError, check_torch_file, first_line

_TRUSTED: dict[str, Any] = {
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor": torch._utils._rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "torch.Size": torch.Size,
}


class Inert:
    """Stands in for an untrusted class or function: keeps its arguments, state and items."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "Inert":
        self = super().__new__(cls)
        self.args, self.state, self.items = args, None, []
        return self

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)


_INERT: dict[str, type[Inert]] = {}


def _inert(full_name: str) -> type[Inert]:
    if full_name not in _INERT:
        _INERT[full_name] = type(full_name.rpartition(".")[2], (Inert,), {"__module__": "inert:" + full_name})
    return _INERT[full_name]


class Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        full_name = f"{module}.{name}"
        return _TRUSTED.get(full_name) or _inert(full_name)


def load(file: Any, **kwargs: Any) -> Any:
    """``pickle.load`` through the restricted unpickler (torch calls it for legacy files)."""
    return Unpickler(file, **kwargs).load()


def read_lightning_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """The checkpoint's ``state_dict`` (all submodules, keys as stored)."""
    check_torch_file(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=sys.modules[__name__])
    except Exception as error:
        raise CheckpointError(f"Cannot read {path} as a Lightning checkpoint: {first_line(error)}") from error
    state = data.get("state_dict") if isinstance(data, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a Lightning checkpoint: no 'state_dict' of tensors")
    return dict(state)
