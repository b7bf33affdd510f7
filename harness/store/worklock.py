"""One process at a time per piece of work: a run about to compute what another process is
computing right now (same cache, same data, same method, same part of a shared run) says so
and waits for it, then finds that work in the cache instead of doing it twice.

Advisory locks (``fcntl.flock``) on small files under ``<cache>/locks/``, one per piece of
work. The kernel drops a lock when its process ends, however it ends (``kill -9`` included),
so no lock outlives its holder and nothing needs cleaning up. The holder writes who it is
(pid, host, start, run folder) into the file for the waiter's notice. A filesystem that
cannot lock (some network filesystems) or a cache that cannot be written leaves the run
unchecked, as without this module.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

from harness.errors import UsageError
from harness.store.atomic import process_alive

FOLDER = "locks"


def lock_path(cache_root: Path, key: str) -> Path:
    return Path(cache_root) / FOLDER / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"


def notice(holder: dict | None, wait: bool) -> str:
    """The line a waiting (or, with ``wait`` false, refusing) run prints about the holder."""
    who = "another harness run"
    if holder:
        host = "" if holder.get("host") == socket.gethostname() else f" on {holder.get('host')}"
        started = time.strftime("%H:%M:%S", time.localtime(holder.get("started", 0)))
        who += f" (pid {holder.get('pid')}{host}, started {started})"
    where = holder.get("run", "its run folder") if holder else "its run folder"
    then = ("waiting for it, then finished items come from the cache" if wait else
            "not waiting (--no-wait): run again when it is done, and finished items come from the cache")
    return f"{who} is computing the same run in {where}; {then}"


def _open(path: Path) -> int | None:
    """The lock file, opened; None where it cannot be (a read-only cache: nothing to compute into)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies: collaborators may share a cache
    except PermissionError:  # another user's lock file: lockable, not writable
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            return None
    except OSError:
        return None


def _holder(fd: int) -> dict | None:
    """Who holds the lock, as it wrote; None when unknown (being written, or left by a process of
    this host that is gone: a holder that could not write its own line)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"null")
    except ValueError:
        return None
    if not isinstance(holder, dict) or holder.get("host") == socket.gethostname() and not (
            isinstance(holder.get("pid"), int) and process_alive(holder["pid"])):
        return None
    return holder


def _announce(holder: dict, fd: int) -> None:
    data = json.dumps(holder).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:  # opened read-only (another user's file): the notice will name no holder
        pass


@contextmanager
def exclusive(cache_root: Path, keys: Iterable[str], run_dir: Path, *, wait: bool = True,
              stream: IO[str] | None = None) -> Iterator[None]:
    """Hold the locks of ``keys`` (one per piece of work) for the ``with`` block.

    Taken in sorted order, so that runs sharing only some keys cannot deadlock. When one is held
    by another process, prints :func:`notice` once on ``stream`` (None: silent) and waits, or,
    with ``wait`` false, raises :class:`UsageError` with that line.
    """
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "run": str(run_dir)}
    told = False
    with ExitStack() as held:
        for key in sorted(set(keys)):
            fd = _open(lock_path(cache_root, key))
            if fd is None:
                continue
            held.callback(os.close, fd)  # closing the file releases its lock
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise UsageError(notice(_holder(fd), wait=False)) from None
                if not told and stream is not None:
                    print(notice(_holder(fd), wait=True), file=stream, flush=True)
                    told = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # no locks on this filesystem: go on unchecked
                continue
            _announce(me, fd)
        yield
