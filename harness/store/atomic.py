"""Crash-safe file writes: write a temporary file, then rename it into place.

A reader sees either the old file, the complete new one, or nothing; a process killed
mid-write leaves only a stray ``.tmp-*`` file that nothing reads. Two writers of the same
content-addressed file race harmlessly (both write identical bytes). Files get the mode a plain
``open()`` would give (0666 less the umask), so collaborators on a shared machine can read them.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

#: A temporary file older than this is a leftover whatever its writer (a live writer's exists for milliseconds).
TEMP_AGE_SECONDS = 600


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{socket.gethostname()}-{os.getpid()}-", dir=path.parent)  # created 0600
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def process_alive(pid: int) -> bool:
    """Whether a process of this host has ``pid`` (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def stale_temporary_files(folder: Path | str) -> list[Path]:
    """``.tmp-*`` files under ``folder`` that no live writer holds: written on this host by a
    process that is gone (killed mid-write), or older than :data:`TEMP_AGE_SECONDS`."""
    host, cutoff, found = socket.gethostname(), time.time() - TEMP_AGE_SECONDS, []
    for path in Path(folder).rglob(".tmp-*"):
        parts = path.name[len(".tmp-"):].rsplit("-", 2)
        try:
            gone = len(parts) == 3 and parts[0] == host and not process_alive(int(parts[1]))
            if path.is_file() and (gone or path.stat().st_mtime < cutoff):
                found.append(path)
        except (ValueError, OSError):  # not one of ours, or removed meanwhile
            continue
    return found
