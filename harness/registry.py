"""Name → factory registry of methods, so users plug in models without editing the package.

A method factory is called as ``factory(checkpoint=None, device=None, **options)`` and
returns a :class:`harness.predictor.Predictor`. Ways to add one:

* ``register_method("name", factory)`` (or as a decorator) from Python;
* ``--methods pkg.module:factory`` on the command line (imported on demand);
* an entry point in the group ``inpainting_harness.methods`` of any installed package.

Built-in methods come from the table in :mod:`harness.builtin_methods` as lazy
``"module:attribute"`` strings, so listing methods imports no model code (and no torch).
Registering a name twice with different targets is an error.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable

from harness.builtin_methods import BUILTIN_METHODS
from harness.checkpoints import WeightsInfo

if TYPE_CHECKING:
    from harness.predictor import Predictor

ENTRY_POINT_GROUP = "inpainting_harness.methods"

Factory = Callable[..., "Predictor"]


def import_target(target: str) -> Any:
    """Import ``"pkg.module:attr"``."""
    module_name, sep, attr = target.partition(":")
    if not sep or not attr:
        raise ValueError(f"'{target}' is not of the form pkg.module:factory")
    return getattr(importlib.import_module(module_name), attr)


@dataclass
class MethodEntry:
    name: str
    source: Factory | str  # as registered: a callable or "module:attribute"
    description: str = ""
    weights_target: WeightsInfo | str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    def factory(self) -> Factory:
        return import_target(self.source) if isinstance(self.source, str) else self.source

    @property
    def weights(self) -> WeightsInfo | None:
        """Where the official weights live (resolved on first use; see harness.builtin_methods)."""
        if isinstance(self.weights_target, str):
            found = import_target(self.weights_target)
            found = found() if callable(found) else found
            self.weights_target = found[self.name] if isinstance(found, Mapping) else found
        return self.weights_target


_METHODS: dict[str, MethodEntry] = {}


def register_method(
    name: str,
    target: Factory | str | None = None,
    *,
    description: str = "",
    weights: WeightsInfo | str | None = None,
    tags: tuple[str, ...] = (),
) -> Any:
    """Register a method factory; usable directly or as ``@register_method("name")``."""

    def add(fn: Factory | str) -> Factory | str:
        old = _METHODS.get(name)
        if old is not None and old.source != fn:
            raise ValueError(f"method '{name}' is already registered ({old.source}); choose another name")
        _METHODS[name] = MethodEntry(name, fn, description, weights, tags)
        return fn

    return add if target is None else add(target)


_LOADED = False


def _load_builtins() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for entry in BUILTIN_METHODS:
        register_method(entry.name, entry.target, description=entry.description, weights=entry.weights, tags=entry.tags)
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


def load_predictor(name: str, checkpoint: str | None = None, device: Any = None, **options: Any) -> "Predictor":
    """Build the predictor registered as ``name`` (or ``pkg.module:factory``)."""
    from harness.predictor import Predictor

    predictor = method_entry(name).factory()(checkpoint=checkpoint, device=device, **options)
    if not isinstance(predictor, Predictor):
        raise TypeError(f"Factory for '{name}' returned {type(predictor).__name__}, not a harness Predictor")
    return predictor
