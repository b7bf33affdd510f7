"""One registry mechanism for everything pluggable: methods, datasets, mask sources, metrics,
profiles, report views and formats, subcommands.

A :class:`Registry` maps names to objects or to lazy ``"module:attribute"`` targets (imported on
first use, so listing names imports no model code and no torch). Every registry is filled the
same way, on first use:

* the plug-in modules named in :data:`BUILTIN_PLUGINS` (the packages shipped beside the harness:
  each declares its entries in one module) and those of installed packages' entry points in the
  group ``inpainting_harness.plugins`` are imported; they call ``<registry>.add(...)``;
* each registry's own entry-point group (e.g. ``inpainting_harness.methods``) adds single entries.

An unknown name is one :class:`~harness.errors.UnknownName` with "did you mean" suggestions; a
name registered twice with different targets is one :class:`RegistryConflict`.

Methods: a factory ``factory(checkpoint=None, device=None, **options)`` returning a
:class:`harness.predictor.Predictor` (a ``Predictor`` subclass or a callable taking fewer of
these parameters works too). Register with ``register_method("name", factory)``, an entry point
in ``inpainting_harness.methods``, or pass ``--methods pkg.module:factory``. A plug-in's failures
(import, factory, wrong return type) are :class:`PluginError` naming it.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoints, entry_points
from typing import TYPE_CHECKING, Any, NamedTuple

from harness.errors import PluginError, UnknownName, UsageError
from harness.guard import no_exit

if TYPE_CHECKING:
    from harness.checkpoints import WeightsInfo
    from harness.predictor import Predictor

#: Plug-in modules shipped beside the harness, imported (in this order) when a registry is first
#: read: the core's own built-ins first, then the packages that plug into it. Strings, so the
#: core imports none of them until asked.
BUILTIN_PLUGINS = ("harness.builtins", "baselines.plugin", "misf.plugin")
PLUGIN_GROUP = "inpainting_harness.plugins"


class RegistryConflict(UsageError):
    """One name registered twice with different targets."""


def add_include_path(*folders: str | os.PathLike) -> None:
    """Let ``pkg.module:factory`` targets be imported from these folders (lm-eval's --include_path)."""
    for folder in reversed(folders):
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            raise UsageError(f"--include-path {folder}: no such folder")
        if folder not in sys.path:
            sys.path.insert(0, folder)


def search_current_folder() -> None:
    """Let plug-ins be found in the current directory, after the installed packages."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())


def missing_module(module_name: str, target: str) -> UsageError:
    """The error for a plug-in whose module is nowhere to be found."""
    return UsageError(f"cannot import '{module_name}' for {target}: no such module in the current directory "
                      "or the installed packages (add its folder with --include-path DIR)")


def import_target(target: str) -> Any:
    """Import ``"pkg.module:attr"``; the current directory is searched after the installed packages."""
    module_name, sep, attr = target.partition(":")
    if not sep or not attr or not module_name:
        raise UsageError(f"'{target}' is not of the form pkg.module:factory")
    search_current_folder()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise missing_module(module_name, target) from None
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


def _is_target(value: Any) -> bool:
    return isinstance(value, str) and ":" in value


_PLUGINS_LOADED = False


@functools.cache
def _installed_entry_points() -> EntryPoints:
    """Every installed package's entry points, read once per process (each read scans the
    metadata of every installed package; a run asks for nine groups)."""
    return entry_points()


def plugin_entries(group: str) -> EntryPoints:
    """The installed entry points of ``group``."""
    return _installed_entry_points().select(group=group)


def load_plugins() -> None:
    """Import the built-in plug-in modules and those of entry points (once per process)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for name in BUILTIN_PLUGINS:
        importlib.import_module(name)
    for entry in plugin_entries(PLUGIN_GROUP):
        if entry.module not in BUILTIN_PLUGINS:
            entry.load()


class Registry:
    """Names → objects or lazy ``"module:attribute"`` targets, of one kind.

    ``check(name, value)`` (optional) validates an object when it is added, e.g. a metric whose
    column would clash. ``info`` holds what a listing shows without importing the target.
    """

    def __init__(self, kind: str, group: str | None = None, check: Callable[[str, Any], None] | None = None):
        self.kind, self.group, self._check = kind, group, check
        self.items: dict[str, Any] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self._group_loaded = False

    def add(self, name: str, value: Any, **info: Any) -> Any:
        """Register ``value`` (an object or ``"module:attribute"``) under ``name``; returns it."""
        old = self.items.get(name)
        if old is not None and old != value and self.info.get(name, {}).get("target") != value:
            shown = old if _is_target(old) else type(old).__name__
            raise RegistryConflict(f"{self.kind} '{name}' is already registered ({shown}); choose another name")
        if self._check is not None and not _is_target(value):
            self._check(name, value)
        self.items[name] = value
        self.info[name] = {**self.info.get(name, {}), **info, **({"target": value} if _is_target(value) else {})}
        return value

    def _fill(self) -> None:
        load_plugins()
        if self.group and not self._group_loaded:
            self._group_loaded = True
            for entry in plugin_entries(self.group):
                if entry.name not in self.items:
                    self.add(entry.name, entry.value, plugin=True, description=f"plug-in ({entry.value})")

    def names(self) -> list[str]:
        self._fill()
        return list(self.items)

    def __contains__(self, name: str) -> bool:
        self._fill()
        return name in self.items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def unknown(self, name: str, hint: str = "") -> UnknownName:
        """The one error for a name nothing is registered under, with close matches."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        maybe = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return UnknownName(f"unknown {self.kind} '{name}'.{maybe} Known: {', '.join(known)}{hint}")

    def get(self, name: str) -> Any:
        """The object registered as ``name``, importing a lazy target on first use."""
        self._fill()
        if name not in self.items:
            raise self.unknown(name)
        value = self.items[name]
        if _is_target(value):
            value = import_target(value)
            if self._check is not None:
                self._check(name, value)
            self.items[name] = value
        return value

    def all(self) -> dict[str, Any]:
        """Every entry, loaded."""
        return {name: self.get(name) for name in self.names()}


# --- the registries -----------------------------------------------------------------------------

#: Method factories (lazy targets); info: description, weights ("module:attr"), tags.
METHODS = Registry("method", "inpainting_harness.methods")
#: Dataset sources (harness.data.datasets.DatasetSource).
DATASETS = Registry("dataset", "inpainting_harness.datasets")
#: Mask sources (masks.sources.MaskSource).
MASK_SOURCES = Registry("mask set", "inpainting_harness.mask_sources")
#: Report views (``harness report --view NAME``): ``build(records, sets, options) -> list[Table]``
#: (:class:`harness.reports.views.ViewOptions`, :class:`harness.reports.table.Table`); info: ``help``,
#: ``options`` (the ViewOptions fields it reads) and optionally ``alias``, ``(flag, add_argument
#: keywords, name)``: a flag that selects it, ``name.format(value)`` naming the view.
REPORT_VIEWS = Registry("report view", "inpainting_harness.report_views")
#: Text formats of ``harness report``: ``render(tables) -> str``, one module each
#: (:mod:`harness.reports.styles`).
REPORT_FORMATS = Registry("report format", "inpainting_harness.report_formats")
#: Sections of the HTML report a plug-in fills: ``paper`` (records, dataset) -> tables of the
#: paper's layout, ``fig7`` (folder) -> Fig. 7 values written beside the runs.
HTML_SECTIONS = Registry("HTML report section", "inpainting_harness.html_sections")
#: Subcommands: ``add(subparsers) -> None`` adds a parser whose ``func`` runs it.
SUBCOMMANDS = Registry("command", "inpainting_harness.commands")
#: Published evaluation protocols (``--protocol NAME``): :class:`harness.data.protocols.Protocol`.
PROTOCOLS = Registry("protocol", "inpainting_harness.protocols")


# --- methods --------------------------------------------------------------------------------------

Factory = Callable[..., "Predictor"]


class CodeVersion(NamedTuple):
    """Where a built-in predictor's explicit code version lives and the modules it covers.

    The version is part of every cache key of the predictor's outputs; tests/test_code_versions.py
    holds it against a hash of the covered modules, read from the registry (``name`` is the lock's
    entry, shared by methods of one code, e.g. MISF's variants).
    """

    name: str
    where: str  # "module:Class.code_version"
    covers: tuple[str, ...]


@dataclass
class MethodEntry:
    name: str
    source: Factory | str  # as registered: a callable or "module:attribute"
    description: str = ""
    weights_target: "WeightsInfo | str | None" = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    plugin: bool = False  # a user's code: its failures are reported as the plug-in's

    def factory(self) -> Factory:
        return import_target(self.source) if isinstance(self.source, str) else self.source

    @property
    def weights(self) -> "WeightsInfo | None":
        """Where the official weights live (a lazy target: a WeightsInfo, a function or a mapping by name)."""
        if isinstance(self.weights_target, str):
            found = import_target(self.weights_target)
            found = found() if callable(found) else found
            self.weights_target = found[self.name] if isinstance(found, Mapping) else found
        return self.weights_target


def register_method(
    name: str,
    target: Factory | str | None = None,
    *,
    description: str = "",
    weights: "WeightsInfo | str | None" = None,
    tags: tuple[str, ...] = (),
    code_version: CodeVersion | None = None,
) -> Any:
    """Register a method factory; usable directly or as ``@register_method("name")``.

    Built-in methods give ``code_version`` (their outputs are cached under an explicit version the
    lock test holds against their code); a user's plug-in may leave it out."""

    def add(fn: Factory | str) -> Factory | str:
        METHODS.add(name, fn, description=description, weights=weights, tags=tuple(tags), code_version=code_version)
        return fn

    return add if target is None else add(target)


#: ``predictions:DIR``: a folder of predictions made elsewhere (:mod:`harness.predictions`), recognised
#: before the plug-in syntax, so no plug-in module can be named ``predictions``.
PREDICTIONS = "predictions"
PREDICTIONS_FACTORY = "harness.predictions.method:FolderFactory"


def predictions_folder(method: str) -> str | None:
    """The folder of a ``predictions:DIR`` method (``""`` when none is given), else None."""
    kind, sep, folder = method.partition(":")
    return folder.strip() if sep and kind.strip() == PREDICTIONS else None


def methods() -> dict[str, MethodEntry]:
    return {name: method_entry(name) for name in METHODS.names()}


def method_entry(name: str) -> MethodEntry:
    """The entry for a registered name, an ad-hoc one for ``predictions:DIR`` (a folder of saved
    predictions, :mod:`harness.predictions`) or for ``pkg.module:factory``."""
    folder = predictions_folder(name)
    if folder:  # a lazy target: the core imports nothing of the reading code
        return MethodEntry(name, import_target(PREDICTIONS_FACTORY)(folder), description="predictions supplied as files")
    if name in METHODS:
        info = METHODS.info.get(name, {})
        return MethodEntry(name, METHODS.items[name], info.get("description", ""), info.get("weights"),
                           info.get("tags", ()), info.get("plugin", False))
    if ":" in name:
        return MethodEntry(name, name, description="user factory", plugin=True)
    raise METHODS.unknown(name, "; or pass pkg.module:factory.")


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
