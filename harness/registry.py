"""Name → factory registry of methods, so users plug in models without editing the package.

A method factory is called as ``factory(checkpoint=None, device=None, **options)`` and
returns a :class:`harness.predictor.Predictor`; a ``Predictor`` subclass or a callable taking
fewer of these parameters (none at all included) works too, and gets only those it declares.
Ways to add one:

* ``register_method("name", factory)`` (or as a decorator) from Python;
* ``--methods pkg.module:factory`` on the command line (imported on demand; the current
  directory and ``--include-path`` folders are searched after the installed packages);
* an entry point in the group ``inpainting_harness.methods`` of any installed package.

A plug-in's failures (import, factory, wrong return type) are :class:`PluginError` naming it.

Built-in methods come from the table in :mod:`harness.builtin_methods` as lazy
``"module:attribute"`` strings, so listing methods imports no model code (and no torch).
Registering a name twice with different targets is an error.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable

from harness.builtin_methods import BUILTIN_METHODS
from harness.checkpoints import WeightsInfo
from harness.errors import PluginError, UnknownName, UsageError
from harness.guard import no_exit

if TYPE_CHECKING:
    from harness.predictor import Predictor

ENTRY_POINT_GROUP = "inpainting_harness.methods"

Factory = Callable[..., "Predictor"]


def add_include_path(*folders: str | os.PathLike) -> None:
    """Let ``pkg.module:factory`` targets be imported from these folders (lm-eval's --include_path)."""
    for folder in reversed(folders):
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            raise UsageError(f"--include-path {folder}: no such folder")
        if folder not in sys.path:
            sys.path.insert(0, folder)


def import_target(target: str) -> Any:
    """Import ``"pkg.module:attr"``; the current directory is searched after the installed packages."""
    module_name, sep, attr = target.partition(":")
    if not sep or not attr or not module_name:
        raise UsageError(f"'{target}' is not of the form pkg.module:factory")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise UsageError(f"cannot import '{module_name}' for {target}: no such module in the current directory "
                             "or the installed packages (add its folder with --include-path DIR)") from None
        raise PluginError(f"plug-in {target}: importing {module_name} failed: {_described(error)}") from error
    except Exception as error:
        raise PluginError(f"plug-in {target}: importing {module_name} failed: {_described(error)}") from error
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UsageError(f"module {module_name} ({getattr(module, '__file__', '?')}) has no '{attr}'") from None


def _described(error: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame, one line."""
    frames = inspect.getinnerframes(error.__traceback__, 0) if error.__traceback__ else []
    where = f" ({os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    message = next((line for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {message}{where}"


@dataclass
class MethodEntry:
    name: str
    source: Factory | str  # as registered: a callable or "module:attribute"
    description: str = ""
    weights_target: WeightsInfo | str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    plugin: bool = False  # a user's code: its failures are reported as the plug-in's

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
            _METHODS[ep.name] = MethodEntry(ep.name, ep.value, description=f"plug-in ({ep.value})", plugin=True)


def methods() -> dict[str, MethodEntry]:
    _load_builtins()
    return dict(_METHODS)


def method_entry(name: str) -> MethodEntry:
    """The entry for a registered name, or an ad-hoc one for ``pkg.module:factory``."""
    registered = methods()
    if name in registered:
        return registered[name]
    if ":" in name:
        return MethodEntry(name, name, description="user factory", plugin=True)
    raise UnknownName(f"Unknown method '{name}'. Known: {', '.join(sorted(registered))}; or pass pkg.module:factory.")


def load_predictor(name: str, checkpoint: str | None = None, device: Any = None, **options: Any) -> "Predictor":
    """Build the predictor registered as ``name`` (or ``pkg.module:factory``)."""
    from harness.predictor import Predictor

    entry = method_entry(name)
    factory = entry.factory()
    given = {"checkpoint": checkpoint, "device": device, **options}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a callable without a readable signature: give it everything
        params = None
    if params is not None and not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        if checkpoint is not None and "checkpoint" not in params:
            raise UsageError(f"{name} takes no checkpoint (its factory has no 'checkpoint' parameter); drop --checkpoint")
        given = {k: v for k, v in given.items() if k in params}
    try:
        with no_exit(f"{name}'s factory"):
            predictor = factory(**given)
    except Exception as error:
        if not entry.plugin or isinstance(error, PluginError):
            raise
        raise PluginError(f"plug-in {name} failed to build its predictor: {_described(error)}") from error
    if not isinstance(predictor, Predictor):
        kind = type(predictor).__name__
        raise PluginError(f"plug-in {name} returned a {kind}, not a harness Predictor (subclass harness.predictor.Predictor)")
    return predictor
