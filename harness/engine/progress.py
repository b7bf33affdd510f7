"""Progress of a run, on stderr only (stdout is for tables).

On a terminal: one overall bar (items done / total, images/s, ETA) above a bar per method and
bucket (and per manifest step: decoding images, measuring masks). Elsewhere (batch jobs,
``2> log``): a plain timestamped line every ``$HARNESS_PROGRESS_SECONDS`` seconds (default 5)
while anything runs, so a log shows a long run is alive. Every stage is timed for the run's
summary (:meth:`Display.stage_times`).

One :class:`Display` is active at a time (:func:`display`); code deep in a run reports to it
through :func:`current`, :func:`track` and :func:`stage` without it being passed down.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from harness.environment import Environment

T = TypeVar("T")


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.2f} img/s" if speed else "   -- img/s", style="cyan")


@dataclass
class _Task:
    description: str
    total: int
    completed: int
    overall: bool  # counts towards the overall line (items of methods, not manifest steps)
    cached: int = 0  # of ``completed``, items found done (cached), left out of the rate
    rich_id: int | None = None


class Display:
    """Bars on a terminal, timestamped lines elsewhere; nothing at all when not ``enabled``
    (stage times are still kept)."""

    def __init__(self, enabled: bool = True, stream: IO[str] | None = None, interval: float | None = None,
                 live: bool | None = None):
        self.enabled, self.stream = enabled, stream or sys.stderr
        self.live = bool(enabled and (self.stream.isatty() if live is None else live))
        self.interval = Environment.read().progress_seconds if interval is None else interval
        self._tasks: dict[int, _Task] = {}
        self._expected = 0
        self._started = time.monotonic()
        self._stages: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rich: Progress | None = None
        self._overall_id: int | None = None
        self._ticker: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.live:
            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  console=Console(file=self.stream, emoji=False), transient=False)
            self._rich.start()
            self._overall_id = self._rich.add_task("all", total=None, visible=False)  # on top, shown with the first item
        elif self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="harness-progress", daemon=True)
            self._ticker.start()

    def stop(self, final: bool = True) -> None:
        """Stop; ``final`` writes the last state (not when an error ends the run: its message is the last line)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            if final and self._tasks:
                self._line()
        if self._rich is not None:
            self._rich.stop()

    # reporting ------------------------------------------------------------------------------------------------
    def expect(self, items: int) -> None:
        """Items the whole run will go through (all methods), for the overall line's total and ETA."""
        with self._lock:
            self._expected += items

    def add_task(self, description: str, total: int, completed: int = 0, overall: bool = True) -> int:
        with self._lock:
            task_id = len(self._tasks)
            task = _Task(description, total, completed, overall, cached=completed)  # done before it started
            self._tasks[task_id] = task
        if self._rich is not None:
            task.rich_id = self._rich.add_task(description, total=total, completed=completed)
            if overall:
                self._update_overall()
        return task_id

    def advance(self, task_id: int, amount: int = 1) -> None:
        with self._lock:
            task = self._tasks[task_id]
            task.completed += amount
        if self._rich is not None:
            self._rich.advance(task.rich_id, amount)
            if task.overall:
                self._update_overall()

    def update(self, task_id: int, completed: int, cached: int = 0) -> None:
        """Set a task's count (work counted elsewhere, e.g. by every rank of a shared run), of which
        ``cached`` items were found done."""
        with self._lock:
            task = self._tasks[task_id]
            task.completed, task.cached = completed, cached
        if self._rich is not None:
            self._rich.update(task.rich_id, completed=completed)
            if task.overall:
                self._update_overall()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run (summed when a name repeats)."""
        start = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._stages[name] = self._stages.get(name, 0.0) + time.monotonic() - start

    def stage_times(self) -> dict[str, float]:
        with self._lock:
            return dict(self._stages)

    # rendering ------------------------------------------------------------------------------------------------
    def _total(self) -> int:
        return max(self._expected, sum(t.total for t in self._tasks.values() if t.overall))

    def _counts(self) -> tuple[int, int]:
        """Items done, and of them those found cached, over the tasks of the overall line."""
        tasks = [t for t in self._tasks.values() if t.overall]
        return sum(t.completed for t in tasks), sum(t.cached for t in tasks)

    def _update_overall(self) -> None:
        with self._lock:
            total, (done, _) = self._total(), self._counts()
        self._rich.update(self._overall_id, total=total, completed=done, visible=True)

    def status(self) -> str:
        """One line: overall items, rate, ETA and the task in progress."""
        with self._lock:
            total, (done, cached) = self._total(), self._counts()
            processed = done - cached
            elapsed = time.monotonic() - self._started
            active = next((t for t in self._tasks.values() if t.completed < t.total), None)  # tasks run in order
            active = active or (list(self._tasks.values())[-1] if self._tasks else None)
            stages = list(self._stages)
        rate = processed / elapsed if elapsed > 0 else 0.0
        parts = []
        if total:
            eta = _clock((total - done) / rate) if rate > 0 else "--"
            parts.append(f"{done}/{total} items ({100 * done / total:.0f}%) · {rate:.2f} img/s · ETA {eta}")
        if active is not None:
            parts.append(f"{active.description} {active.completed}/{active.total}")
        elif stages:
            parts.append(stages[-1])
        parts.append(f"elapsed {_clock(elapsed)}")
        return " · ".join(parts)

    def _line(self) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {self.status()}", file=self.stream, flush=True)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._line()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


_ACTIVE: list[Display] = []


@contextmanager
def display(enabled: bool = True, **kwargs) -> Iterator[Display]:
    """Make a display the active one for the block (nested calls reuse the outer one)."""
    if _ACTIVE:
        yield _ACTIVE[-1]
        return
    shown = Display(enabled, **kwargs)
    _ACTIVE.append(shown)
    shown.start()
    try:
        yield shown
    except BaseException:
        shown.stop(final=False)
        raise
    else:
        shown.stop()
    finally:
        _ACTIVE.pop()


def current() -> Display | None:
    return _ACTIVE[-1] if _ACTIVE else None


def progress_bar(enabled: bool = True):
    """The active display, or a new one for the block (a run started from Python); a silent one
    of its own when not ``enabled`` (work shown elsewhere, e.g. by rank 0 for all ranks)."""
    return display(True) if enabled else nullcontext(Display(enabled=False))


def stage(name: str):
    """Time ``name`` on the active display (nothing without one)."""
    shown = current()
    return shown.stage(name) if shown is not None else nullcontext()


def track(items: Iterable[T], description: str, total: int | None = None, overall: bool = False) -> Iterator[T]:
    """Iterate ``items``, advancing a task of the active display (manifest steps; Fig. 7 examples, which
    count as the run's items with ``overall``)."""
    shown = current()
    if shown is None:
        yield from items
        return
    items = list(items) if total is None else items
    task = shown.add_task(description, total=len(items) if total is None else total, overall=overall)
    for item in items:
        yield item
        shown.advance(task)
