"""``harness cache info | verify | prune``: what the cache holds, whether it is sound, and cleaning.

Entries are files under the cache root: ``outputs/<fp>/../<key>.npy``, ``metrics/<profile>-v<n>/<fp>/../<key>.json``
and ``methods/<fp>.json`` (what a fingerprint prefix is). Temporary files (``.tmp-*``) are
left by writers killed mid-write; nothing reads them, and ``prune --temp`` removes those older
than ten minutes (a live writer's file exists for milliseconds).
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.cache import Cache, validate_metrics, validate_output

TEMP_AGE_SECONDS = 600


def _files(root: Path, pattern: str) -> Iterator[Path]:
    return (p for p in root.rglob(pattern) if p.is_file()) if root.is_dir() else iter(())


def _size(paths) -> tuple[int, int]:
    paths = list(paths)
    return len(paths), sum(p.stat().st_size for p in paths)


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"


def _methods(cache: Cache) -> dict[str, dict]:
    found = {}
    for path in _files(cache.root / "methods", "*.json"):
        try:
            found[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            found[path.stem] = {}
    return found


def info(args: argparse.Namespace) -> tuple[list[str], int]:
    cache = Cache()
    lines = [f"cache: {cache.root}"]
    for kind, pattern in (("outputs", "*.npy"), ("metrics", "*.json")):
        count, size = _size(_files(cache.root / kind, pattern))
        lines.append(f"{kind}: {count} entries, {_human(size)}")
    temp = list(_files(cache.root, ".tmp-*"))
    lines.append(f"temporary files: {len(temp)} (harness cache prune --temp)")
    for prefix, meta in sorted(_methods(cache).items()):
        count, size = _size(_files(cache.root / "outputs" / prefix, "*.npy"))
        labels = ", ".join(meta.get("labels", [])) or meta.get("method", "?")
        lines.append(f"  {prefix}  {labels}: {count} outputs, {_human(size)}")
    return lines, 0


def _damaged(cache: Cache) -> Iterator[tuple[Path, str]]:
    for path in _files(cache.root / "outputs", "*.npy"):
        try:
            problem = validate_output(np.load(path, allow_pickle=False))
        except (OSError, ValueError, EOFError) as error:
            problem = f"unreadable ({type(error).__name__})"
        if problem:
            yield path, problem
    for path in _files(cache.root / "metrics", "*.json"):
        try:
            problem = validate_metrics(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            problem = f"unreadable ({type(error).__name__})"
        if problem:
            yield path, problem


def verify(args: argparse.Namespace) -> tuple[list[str], int]:
    damaged = list(_damaged(Cache()))
    lines = [f"{path}: {problem}" for path, problem in damaged[:50]]
    lines.append(f"{len(damaged)} damaged entries" + (" (reruns recompute them; or harness cache prune --damaged)" if damaged else ""))
    return lines, 1 if damaged else 0


def _selected(cache: Cache, args: argparse.Namespace) -> list[Path]:
    chosen: list[Path] = []
    if args.temp:
        cutoff = time.time() - TEMP_AGE_SECONDS
        chosen += [p for p in _files(cache.root, ".tmp-*") if p.stat().st_mtime < cutoff]
    if args.damaged:
        chosen += [path for path, _ in _damaged(cache)]
    if args.method:
        prefixes = [prefix for prefix, meta in _methods(cache).items()
                    if args.method == meta.get("method") or args.method in meta.get("labels", [])]
        for prefix in prefixes:
            chosen += [p for kind in ("outputs", "metrics") for p in _files(cache.root / kind, "*") if prefix in p.parts]
            chosen.append(cache.root / "methods" / f"{prefix}.json")
    if args.older_than:
        cutoff = datetime.fromisoformat(args.older_than).timestamp()
        chosen += [p for kind in ("outputs", "metrics") for p in _files(cache.root / kind, "*") if p.stat().st_mtime < cutoff]
    return list(dict.fromkeys(p for p in chosen if p.exists()))


def prune(args: argparse.Namespace) -> tuple[list[str], int]:
    if not (args.temp or args.damaged or args.method or args.older_than):
        raise ValueError("harness cache prune needs --temp, --damaged, --method NAME or --older-than DATE")
    paths = _selected(Cache(), args)
    _, size = _size(paths)
    for path in paths:
        path.unlink(missing_ok=True)
    return [f"removed {len(paths)} files, {_human(size)}"], 0


COMMANDS: dict[str, Callable[[argparse.Namespace], tuple[list[str], int]]] = {"info": info, "verify": verify, "prune": prune}
