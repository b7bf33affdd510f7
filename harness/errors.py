"""Exceptions the command line turns into one line and an exit code (no heavy imports).

``UsageError`` (and its subclasses) are a user's mistakes: wrong flags, files that are not what
they should be, a plug-in that fails. ``cli.main`` prints them as one ``error: ...`` line with
exit code 2; other exceptions (programming errors) keep their traceback.
"""
from __future__ import annotations

import errno


class StrictModeError(RuntimeError):
    """Raised in --strict mode after the run's records are written, when any item failed."""


class Interrupted(RuntimeError):
    """Ctrl-C during a run: what was finished is cached and recorded (``complete`` false)."""


class UsageError(ValueError):
    """A mistake in the command or its inputs; the message says what to do instead."""


class UnknownName(UsageError, KeyError):
    """A method, dataset or other name that nothing is registered under."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(UsageError):
    """A user's method factory failed while building its predictor."""


#: OSError numbers that mean "this place cannot be written", with what to do about it.
STORAGE_ERRORS = {
    errno.EACCES: "not writable (permissions)",
    errno.EPERM: "not writable (permissions)",
    errno.EROFS: "on a read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way of a folder",
}


def storage_message(error: OSError) -> str | None:
    """One line for a write that failed because of where it writes, or None for other errors."""
    why = STORAGE_ERRORS.get(error.errno or -1)
    if why is None:
        return None
    place = error.filename or "a file"
    return (f"cannot write {place}: {why}. Point the runs folder elsewhere with --out or $HARNESS_RUNS, "
            "the cache with $HARNESS_CACHE")


class RankError(RuntimeError):
    """A process of a shared run (torchrun) stopped answering or finishing items; names it."""
