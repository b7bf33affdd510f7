"""Test helpers that look inside the cache's packs and damage them the ways disks and people do."""
from __future__ import annotations

import json

import numpy as np

from harness.store.cache import HEAD, Cache, Entry, pack_floats, pack_records


def newest(kind: str) -> list[Entry]:
    """The newest record of every key of one kind (what the cache would return), in key order."""
    latest: dict[tuple, Entry] = {}
    for entry in Cache().entries():
        if entry.problem is None and entry.header["kind"] == kind:
            latest[(entry.header["key"], entry.header.get("profile", ""))] = entry
    return [latest[k] for k in sorted(latest)]


def count(kind: str) -> int:
    return len(newest(kind))


def flip_payload(entry: Entry) -> None:
    """Overwrite a record's payload bytes in place: its checksum no longer matches."""
    with entry.path.open("r+b") as handle:
        handle.seek(entry.offset + HEAD.size + len(json.dumps(entry.header, sort_keys=True).encode()))
        data = handle.read(min(entry.payload_length, 16))
        handle.seek(-len(data), 1)
        handle.write(bytes(b ^ 0xFF for b in data))


def write_record(header: dict, payload: bytes) -> None:
    """Append a record (valid checksum, arbitrary content) as a new newest record."""
    cache = Cache()
    cache._append(header["key"][:16], header, payload)
    cache.close()


def wrong_shape_output(key: str) -> None:
    values = np.zeros((3, 128, 128), np.float32)
    write_record({"kind": "output", "key": key, "shape": [3, 128, 128], "holes": False, "count": values.size},
                 pack_floats(values))


__all__ = ["count", "flip_payload", "newest", "pack_records", "write_record", "wrong_shape_output"]
