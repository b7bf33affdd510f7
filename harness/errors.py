"""Exceptions the command line turns into one line and an exit code (no heavy imports)."""


class StrictModeError(RuntimeError):
    """Raised in --strict mode after the run's records are written, when any item failed."""


class Interrupted(RuntimeError):
    """Ctrl-C during a run: what was finished is cached and recorded (``complete`` false)."""


class RankError(RuntimeError):
    """A process of a shared run (torchrun) stopped answering or finishing items; names it."""
