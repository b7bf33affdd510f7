"""``harness cache info | verify | prune``: what the cache holds, whether it is sound, and cleaning.

The cache is ``packs/<group>/*.pack`` (harness.store.cache): one folder per method fingerprint prefix
(with ``method.json`` saying what it is) and per feature extractor. ``verify`` reads every
newest record (checksum and content); ``prune`` removes whole folders (``--method``), packs
last written before a date (``--older-than``), rewrites packs without their damaged records
(``--damaged``), and deletes temporary files of killed writers (``--temp``, older than ten
minutes: a live writer's temporary file exists for milliseconds). Files of the older per-item
layout (``outputs/``, ``metrics/``, ``features/``) are shown and pruned as ``legacy``.
"""
from __future__ import annotations

import argparse
import json
import zlib
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.store.atomic import stale_temporary_files
from harness.store.pack_index import INDEX_NAME
from harness.store.cache import Cache, Entry, read_payload, pack_records, unpack_floats, PackWriter, validate_metrics

LEGACY = ("outputs", "metrics", "features", "methods")


def _files(root: Path, pattern: str) -> list[Path]:
    return [p for p in root.rglob(pattern) if p.is_file()] if root.is_dir() else []


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"


def _groups(cache: Cache) -> list[Path]:
    packs = cache.root / "packs"
    return sorted(p for p in packs.iterdir() if p.is_dir()) if packs.is_dir() else []


def _meta(group: Path) -> dict:
    try:
        return json.loads((group / "method.json").read_text())
    except (OSError, ValueError):
        return {}


def info(args: argparse.Namespace) -> tuple[list[str], int]:
    cache = Cache()
    lines = [f"cache: {cache.root}"]
    for group in _groups(cache):
        kinds = Counter(e.header["kind"] if e.problem is None else "unusable" for path in sorted(group.glob("*.pack")) for e in pack_records(path))
        size = sum(p.stat().st_size for p in group.glob("*.pack"))
        meta = _meta(group)
        what = ", ".join(meta.get("labels", [])) or meta.get("method") or ("features" if group.name.startswith("feat-") else "?")
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        index = index_bytes(group)
        lines.append(f"  {group.name}  {what}: {counts or 'empty'}; {len(list(group.glob('*.pack')))} packs, {_human(size)}"
                     + (f" + index {_human(index)}" if index else ""))
    legacy = [p for name in LEGACY for p in _files(cache.root / name, "*")]
    if legacy:
        lines.append(f"legacy per-item files (no longer read): {len(legacy)}, {_human(sum(p.stat().st_size for p in legacy))} "
                     "(harness cache prune --legacy)")
    lines.append(f"temporary files: {len(_files(cache.root, '.tmp-*'))} (harness cache prune --temp)")
    return lines, 0


def index_bytes(group: Path) -> int:
    """Bytes of a group's key index (``index.sqlite`` and SQLite's write-ahead log and shared memory)."""
    return sum(p.stat().st_size for p in group.glob(INDEX_NAME + "*") if p.is_file())


def _newest(cache: Cache) -> Iterator[Entry]:
    """The newest record of every key (what reads return), per group."""
    for group in _groups(cache):
        latest: dict[tuple, Entry] = {}
        for path in sorted(group.glob("*.pack")):
            for entry in pack_records(path):
                if entry.problem is not None:
                    yield entry  # an unusable header or tail: no key, so never shadowed
                    continue
                latest[(entry.header["kind"], entry.header["key"], entry.header.get("profile", ""))] = entry
        yield from latest.values()


def _problem(entry: Entry) -> str | None:
    """Why a record is unusable (checksum, decoding, content), or None."""
    header = entry.header
    if entry.problem is not None:
        return entry.problem
    try:
        payload = read_payload(entry)
        if header["kind"] == "metrics":
            return validate_metrics(json.loads(payload))
        values = (np.frombuffer(payload, np.float32) if header["kind"] == "features"
                  else unpack_floats(payload, header["count"]))
    except (ValueError, OSError, KeyError, zlib.error) as error:
        return f"unreadable ({error})"
    expected = header.get("dim", header.get("count"))
    if values.size != expected or not np.isfinite(values).all():
        return f"{values.size} values, finite: {bool(np.isfinite(values).all())} (expected {expected} finite values)"
    return None


def damaged(cache: Cache, every_record: bool = False) -> list[tuple[Entry, str]]:
    """Damaged newest records (what reads would meet), or damaged records of any age."""
    found = []
    for entry in (cache.entries() if every_record else _newest(cache)):
        problem = _problem(entry)
        if problem:
            found.append((entry, problem))
    return found


def verify(args: argparse.Namespace) -> tuple[list[str], int]:
    bad = damaged(Cache())
    lines = [f"{e.path.name} {e.header.get('kind', 'record')} {e.header.get('key', f'at byte {e.offset}')}: {problem}" for e, problem in bad[:50]]
    lines.append(f"{len(bad)} damaged entries" + (" (reruns recompute them; or harness cache prune --damaged)" if bad else ""))
    return lines, 1 if bad else 0


def _rewrite_without(cache: Cache, bad: list[Entry]) -> int:
    """Rewrite the packs holding ``bad`` records into one new pack per group, without them."""
    drop = {(e.path, e.offset) for e in bad}
    removed = 0
    for path in sorted({e.path for e in bad}):
        writer = PackWriter(path.parent)
        for entry in pack_records(path):
            if (entry.path, entry.offset) in drop:
                removed += 1
                continue
            try:
                writer.append(entry.header, read_payload(entry))
            except (ValueError, OSError):
                removed += 1
        writer.close()
        path.unlink()
    return removed


def prune(args: argparse.Namespace) -> tuple[list[str], int]:
    if not (args.temp or args.damaged or args.method or args.older_than or args.legacy):
        raise ValueError("harness cache prune needs --temp, --damaged, --method NAME, --older-than DATE or --legacy")
    cache = Cache()
    paths: list[Path] = []
    lines = []
    if args.temp:
        paths += stale_temporary_files(cache.root)
    if args.legacy:
        paths += [p for name in LEGACY for p in _files(cache.root / name, "*")]
    if args.method:
        for group in _groups(cache):
            meta = _meta(group)
            if args.method == meta.get("method") or args.method in meta.get("labels", []):
                paths += _files(group, "*")
    if args.older_than:
        cutoff = datetime.fromisoformat(args.older_than).timestamp()
        paths += [p for group in _groups(cache) for p in group.glob("*.pack") if p.stat().st_mtime < cutoff]
    if args.damaged:
        lines.append(f"rewrote packs without {_rewrite_without(cache, [e for e, _ in damaged(cache, every_record=True)])} damaged records")
    paths = list(dict.fromkeys(p for p in paths if p.exists()))
    size = sum(p.stat().st_size for p in paths)
    for path in paths:
        path.unlink(missing_ok=True)
    return [*lines, f"removed {len(paths)} files, {_human(size)}"], 0


COMMANDS: dict[str, Callable[[argparse.Namespace], tuple[list[str], int]]] = {"info": info, "verify": verify, "prune": prune}
