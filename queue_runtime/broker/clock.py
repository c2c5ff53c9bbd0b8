"""Time for the broker engine: the real clock, or a manual one that tests move forward by hand.

Times are POSIX seconds (floats) inside the engine because it compares them on every operation; models turn
them into aware UTC datetimes at the edge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock:
    """What the engine asks for the time. ``manual`` tells fronts whether the time can jump."""

    manual: bool = False

    def now(self) -> float:
        raise NotImplementedError

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` whenever time jumps (only a manual clock jumps). Returns an unsubscribe function."""
        return lambda: None


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock(Clock):
    """A clock that stands still until :meth:`advance` moves it. Starts at the real current time."""

    manual = True

    def __init__(self, start: float | None = None) -> None:
        # Whole seconds, so times that round-trip through datetime (microseconds) compare exactly.
        self._now = float(int(time.time())) if start is None else start
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []

    def now(self) -> float:
        return self._now

    def advance(self, delta: timedelta | float) -> float:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
        for callback in list(self._subscribers):
            callback()
        return self._now

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
