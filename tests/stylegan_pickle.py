"""Writing network snapshots the way StyleGAN2-ADA's training loop does, for tests.

A minimal re-statement of ``torch_utils.persistence``: an object of a persistent class pickles
as ``_reconstruct_persistent_obj(meta)`` with ``meta = dict(type='class', version=6,
module_src=<module source>, class_name, state=<its __dict__>)``, and unpickling it with the
real mechanism ``exec``s ``module_src`` in a fresh module. The snapshot is
``pickle.dump(dict(training_set_kwargs, G, D, G_ema, augment_pipe))`` of ``eval()`` copies.
Installed under the official module names (``torch_utils.persistence``, ``dnnlib.util``) while
writing, so the pickle names exactly the globals a released file names.
"""
from __future__ import annotations

import copy
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

PERSISTENCE_VERSION = 6


class EasyDict(dict):
    """dnnlib.util.EasyDict: a dict with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def reconstruct_persistent_obj(meta: dict) -> Any:
    """What the real ``_reconstruct_persistent_obj`` does: exec the source, rebuild the class's object."""
    module = types.ModuleType(f"_imported_module_{len(sys.modules)}")
    exec(meta["module_src"], module.__dict__)  # noqa: S102 - the behaviour the harness must never reproduce
    obj = module.__dict__[meta["class_name"]].__new__(module.__dict__[meta["class_name"]])
    obj.__dict__.update(meta["state"])
    return obj


@contextmanager
def official_module_names() -> Iterator[None]:
    """Expose the two helpers under the names released snapshots reference."""
    names = {"torch_utils": None, "torch_utils.persistence": {"_reconstruct_persistent_obj": reconstruct_persistent_obj},
             "dnnlib": None, "dnnlib.util": {"EasyDict": EasyDict}}
    saved = {name: sys.modules.get(name) for name in names}
    originals = (reconstruct_persistent_obj.__module__, EasyDict.__module__)
    try:
        for name, attrs in names.items():
            module = sys.modules[name] = types.ModuleType(name)
            for attr, value in (attrs or {}).items():
                setattr(module, attr, value)
        reconstruct_persistent_obj.__module__, reconstruct_persistent_obj.__qualname__ = (
            "torch_utils.persistence", "_reconstruct_persistent_obj")
        EasyDict.__module__ = "dnnlib.util"
        yield
    finally:
        reconstruct_persistent_obj.__module__, reconstruct_persistent_obj.__qualname__ = (
            originals[0], "reconstruct_persistent_obj")
        EasyDict.__module__ = originals[1]
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class SnapshotPickler(pickle.Pickler):
    """Pickles every module of ``persistent_module`` as a persistent object carrying ``module_src``."""

    def __init__(self, file: Any, persistent_module: str, module_src: str, extra_state: dict[str, Any], protocol: int):
        super().__init__(file, protocol)
        self.persistent_module, self.module_src, self.extra_state = persistent_module, module_src, extra_state

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, torch.nn.Module) and type(obj).__module__ == self.persistent_module:
            state = dict(obj.__dict__)
            state["_init_args"] = ()
            state["_init_kwargs"] = EasyDict(norm_layer=torch.nn.LayerNorm, act_layer=torch.nn.GELU)
            state.update(self.extra_state)
            meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=self.module_src,
                        class_name=type(obj).__name__, state=state)
            return reconstruct_persistent_obj, (meta,)
        return NotImplemented


def write_snapshot(path: Path, G: torch.nn.Module, G_ema: torch.nn.Module, module_src: str, protocol: int = 4) -> None:
    """A network-snapshot-like pickle; D and the augment pipe are stand-ins of the same kind.

    ``protocol`` 4 is Python 3.8+'s default; 3 is Python 3.7's, which the 2022 releases used.
    """
    extra = {"weight_gain_np": np.float64(0.125), "weight_maskUpdater": torch.ones(1, 1, 3, 3)}
    data = dict(training_set_kwargs=EasyDict(path="places", resolution=G.resolution, xflip=False),
                G=copy.deepcopy(G).eval(), D=torch.nn.Sequential(torch.nn.Softmax(dim=-1)), G_ema=copy.deepcopy(G_ema).eval(),
                augment_pipe=None)
    with official_module_names(), path.open("wb") as handle:
        SnapshotPickler(handle, type(G).__module__, module_src, extra, protocol).dump(data)
