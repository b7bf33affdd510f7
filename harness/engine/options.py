"""``--option KEY=VALUE``: typed by the factory's signature, and an error when nobody knows it.

A factory's options are its keyword parameters besides ``checkpoint`` and ``device``. A value
is converted to the parameter's annotated type (``int``, ``float``, ``bool``, ``str``, unions
and ``None`` included) or, without an annotation, to its default's type. An option is given to
every method that names it; an option that no method of the run names is an error naming each
method's options. A factory's ``**kwargs`` names nothing: with it a typo (``kernal=15``) would
silently run with the default.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

RESERVED = ("checkpoint", "device")
_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def parse_pairs(values: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` → ``{"k": "v"}``; a value without ``=`` is an error."""
    pairs = [value.partition("=") for value in values or []]
    bad = [key for key, sep, _ in pairs if not sep or not key]
    if bad:
        raise ValueError(f"--option needs KEY=VALUE, got {bad[0]!r}")
    return {key.strip(): value for key, _, value in pairs}


def parameters(factory: Callable) -> dict[str, inspect.Parameter]:
    """The factory's options: its keyword parameters besides ``checkpoint`` and ``device``."""
    return {n: p for n, p in inspect.signature(factory).parameters.items()
            if n not in RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _types(parameter: inspect.Parameter) -> list[str]:
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty:
        default = parameter.default
        return ["str"] if default is inspect.Parameter.empty or default is None else [type(default).__name__]
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return [part.strip().removeprefix("typing.") for part in text.replace("Optional[", "None | ").rstrip("]").split("|")]


def convert(name: str, raw: str, parameter: inspect.Parameter) -> Any:
    """``raw`` as the parameter's type, trying each member of a union in turn."""
    for kind in _types(parameter):
        if kind == "None" and raw.lower() in ("none", "null", ""):
            return None
        if kind == "bool" and raw.lower() in _BOOLS:
            return _BOOLS[raw.lower()]
        if kind in ("int", "float"):
            try:
                return int(raw) if kind == "int" else float(raw)
            except ValueError:
                continue
        if kind in ("str", "Any", "os.PathLike", "Path"):
            return raw
    raise ValueError(f"option {name}={raw!r}: expected {' or '.join(_types(parameter))}")


def bind(factory: Callable, given: dict[str, Any], hints: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options of ``given`` that ``factory`` knows (text converted to their types), plus the
    ``hints`` it accepts (such as ``dataset=`` for the paper's datasets)."""
    named = parameters(factory)
    bound = {k: v for k, v in (hints or {}).items() if k in named}
    for key, raw in given.items():
        if key in named:
            bound[key] = convert(key, raw, named[key]) if isinstance(raw, str) else raw
    return bound


def check_known(factories: dict[str, Callable], given: dict[str, Any]) -> None:
    """Every given option must be known to at least one method of the run."""
    known = {label: parameters(factory) for label, factory in factories.items()}
    unknown = [key for key in given if not any(key in named for named in known.values())]
    if unknown:
        listing = "; ".join(f"{label}: {', '.join(named) or 'none'}" for label, named in known.items())
        close = difflib.get_close_matches(unknown[0], [n for named in known.values() for n in named], n=1)
        maybe = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown option(s) {', '.join(unknown)}{maybe}; the methods' options are {listing} "
                         "(a plug-in's options are the keyword parameters its factory names; **kwargs names none)")
