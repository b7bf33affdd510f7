"""Reading StyleGAN2-ADA network pickles without running the code inside them.

The official snapshots (``network-snapshot-*.pkl``, MAT's released ``.pkl`` files) pickle every
network as a "persistent" object: the reduce call is
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` carries the full source
text of the network's module (``module_src``), the class name and the object's ``__dict__``.
Unpickling them normally ``exec``s that source. This reader instead resolves only a fixed list of
globals: tensor and storage rebuilders (storages are embedded legacy ``torch.save`` blobs, read
with ``torch.load(weights_only=True)``), plain containers, numpy dtypes and scalars, and torch's
own module classes, which become inert records. A persistent object becomes a
:class:`PersistentRecord` holding its class name and state; its source is dropped unread. Any
other global is an error.
"""
from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch


class RecordDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""

    def __setstate__(self, state: dict) -> None:
        self.update(state or {})


@dataclass
class ModuleRecord:
    """An inert object rebuilt from a pickle: which class it was and the state it carried."""

    class_name: str
    state: dict = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"state": state}


@dataclass
class PersistentRecord(ModuleRecord):
    """A persistent-class object; ``module_src`` of its pickle is never kept or executed."""

    version: int | None = None


def _persistent(meta: dict) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("malformed persistent object (expected a StyleGAN2-ADA persistence meta dict)")
    return PersistentRecord(str(meta.get("class_name")), meta["state"], meta.get("version"))


def _storage_from_bytes(blob: bytes) -> Any:
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"refusing a numpy scalar of dtype {dtype!r}")
    return np.frombuffer(data, dtype=dtype)[0]


_record_classes: dict[str, type] = {}


def _module_record_class(qualified: str) -> type:
    """One inert class per torch module class name, so records keep the name they were pickled under."""
    if qualified not in _record_classes:
        _record_classes[qualified] = type(qualified.rpartition(".")[2], (ModuleRecord,), {"class_name": qualified})
    return _record_classes[qualified]


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): RecordDict,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("builtins", "set"): set,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module.startswith("torch.nn.modules.") and name[:1].isupper():
            # Instantiated by the pickle (``cls.__new__`` + state) it is a record; referenced as a
            # value (``norm_layer=nn.LayerNorm`` in init kwargs) it stays this inert class.
            return _module_record_class(f"{module}.{name}")
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: not a tensor, container or network record")


def load_network_pickle(source: str | Path | BinaryIO) -> Any:
    """Unpickle a StyleGAN2-ADA snapshot into plain containers, tensors and inert records."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return RestrictedUnpickler(handle).load()
    return RestrictedUnpickler(source).load()


def record_state_dict(record: ModuleRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` the module would have: its parameters and persistent buffers, recursively."""
    state, out = record.state, {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, ModuleRecord):
            out.update(record_state_dict(child, f"{prefix}{name}."))
        elif child is not None:
            raise pickle.UnpicklingError(f"submodule {prefix}{name} is not a network record ({type(child).__name__})")
    return out
