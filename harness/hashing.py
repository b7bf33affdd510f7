"""Content hashes used in identities (no heavy imports: records and listings use them)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_FILE_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_json(payload: Any) -> str:
    """SHA-256 of a JSON-serialisable value with sorted keys (unknown objects by ``str``)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) since weights are large."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_MEMO:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _FILE_MEMO[key] = digest.hexdigest()
    return _FILE_MEMO[key]
