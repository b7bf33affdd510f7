"""Name → factory registries for methods, so users plug in models without editing the package.

A method factory is called as ``factory(checkpoint=None, device=None, **options)`` and
returns a :class:`harness.predictor.Predictor`. Three ways to add one:

* ``register_method("name", factory)`` (or as a decorator) from Python;
* ``--method pkg.module:factory`` on the command line (imported on demand);
* an entry point in the group ``inpainting_harness.methods`` of any installed package.

Built-in methods are registered lazily as ``"module:attribute"`` strings so that listing
methods imports no model code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable

from harness.checkpoints import WeightsInfo
from harness.predictor import Predictor

ENTRY_POINT_GROUP = "inpainting_harness.methods"

Factory = Callable[..., Predictor]


@dataclass
class MethodEntry:
    name: str
    target: Factory | str
    description: str = ""
    weights: WeightsInfo | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    def factory(self) -> Factory:
        if isinstance(self.target, str):
            self.target = import_target(self.target)
        return self.target


_METHODS: dict[str, MethodEntry] = {}


def import_target(target: str) -> Any:
    """Import ``"pkg.module:attr"``."""
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ValueError(f"'{target}' is not of the form pkg.module:factory")
    return getattr(importlib.import_module(module_name), attr)


def register_method(
    name: str,
    target: Factory | str | None = None,
    *,
    description: str = "",
    weights: WeightsInfo | None = None,
    tags: tuple[str, ...] = (),
) -> Any:
    """Register a method factory; usable directly or as ``@register_method("name")``."""

    def add(fn: Factory | str) -> Factory | str:
        _METHODS[name] = MethodEntry(name, fn, description, weights, tags)
        return fn

    return add if target is None else add(target)


def _load_builtins() -> None:
    from harness import builtin_methods  # noqa: F401  (registers on import)

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _METHODS:
            _METHODS[ep.name] = MethodEntry(ep.name, ep.value, description=f"plug-in ({ep.value})")


def methods() -> dict[str, MethodEntry]:
    _load_builtins()
    return dict(_METHODS)


def method_entry(name: str) -> MethodEntry:
    """The entry for a registered name, or an ad-hoc one for ``pkg.module:factory``."""
    registered = methods()
    if name in registered:
        return registered[name]
    if ":" in name:
        return MethodEntry(name, name, description="user factory")
    raise KeyError(f"Unknown method '{name}'. Known: {', '.join(sorted(registered))}; or pass pkg.module:factory.")


def load_predictor(name: str, checkpoint: str | None = None, device: Any = None, **options: Any) -> Predictor:
    """Build the predictor registered as ``name`` (or ``pkg.module:factory``)."""
    predictor = method_entry(name).factory()(checkpoint=checkpoint, device=device, **options)
    if not isinstance(predictor, Predictor):
        raise TypeError(f"Factory for '{name}' returned {type(predictor).__name__}, not a harness Predictor")
    return predictor
