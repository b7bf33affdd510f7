"""A plug-in may not end the run: its ``sys.exit``, ``os._exit`` or own ``KeyboardInterrupt``
becomes an ordinary error of the call that raised it.

Without this guard a predictor that calls ``sys.exit()`` (itself or in a library it calls)
ended the whole run with exit code 0: no later method ran, no table, no ``results.json``.
A real Ctrl-C still interrupts: the guard tells it apart from a ``KeyboardInterrupt`` the code
raised itself by watching for SIGINT while the call runs (main thread only, where Python
delivers signals; elsewhere every ``KeyboardInterrupt`` is passed on).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator


class PluginExit(RuntimeError):
    """A plug-in tried to end the process (or raised KeyboardInterrupt without a Ctrl-C)."""


@contextlib.contextmanager
def no_exit(what: str) -> Iterator[None]:
    """Run the body with ``what`` (e.g. "predict of telea") unable to end the process."""
    if threading.current_thread() is not threading.main_thread():
        try:
            yield
        except SystemExit as error:
            raise PluginExit(f"{what} called sys.exit({error.code!r})") from None
        return
    signalled = []
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        signalled.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    real_exit, owner = os._exit, os.getpid()

    def refuse_exit(code: int) -> None:
        if os.getpid() != owner or threading.current_thread() is not threading.main_thread():
            real_exit(code)  # a forked child or another thread: its own business
        raise PluginExit(f"{what} called os._exit({code!r})")

    if previous is not None:  # None: a handler not set from Python, left alone
        signal.signal(signal.SIGINT, on_sigint)
    os._exit = refuse_exit
    try:
        yield
    except SystemExit as error:
        raise PluginExit(f"{what} called sys.exit({error.code!r})") from None
    except KeyboardInterrupt:
        if signalled:
            raise
        raise PluginExit(f"{what} raised KeyboardInterrupt without a Ctrl-C") from None
    finally:
        os._exit = real_exit
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
