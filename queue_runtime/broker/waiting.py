"""Waiting for messages without busy polling: the asyncio side of the engine.

A waiter retries its ``attempt`` whenever the engine says ``path`` may have something new, when the clock jumps
(manual clock), or when the earliest due event on ``path`` arrives (system clock), until its timeout. Timeouts are
always wall-clock seconds, so a test on the manual clock never hangs in a long poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from .engine import Broker, IdleReport

__all__ = ["BrokerWaiter", "wait_until_idle"]

T = TypeVar("T")


class BrokerWaiter:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._closing = False
        self._unsubscribe = [broker.add_listener(self._wake), broker.clock.subscribe(self._clock_jumped)]

    def _wake(self, path: str) -> None:
        futures = self._waiting.get(path)
        if futures:
            for future in futures:
                if not future.done():
                    future.get_loop().call_soon_threadsafe(_resolve, future)

    def _clock_jumped(self) -> None:
        self.broker.tick_all()
        for path in list(self._waiting):
            self._wake(path)

    def close(self) -> None:
        """Wake every waiter; from now on waits return at once with nothing (graceful shutdown)."""
        self._closing = True
        for path in list(self._waiting):
            self._wake(path)
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    @property
    def closing(self) -> bool:
        return self._closing

    async def wait_for(self, path: str, attempt: Callable[[], T | None], timeout: float) -> T | None:
        """Return ``attempt()``'s first non-empty result, or None once ``timeout`` seconds have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            result = attempt()
            if result or self._closing:
                return result if result else None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            wait = remaining
            if not self.broker.clock.manual:
                due = self.broker.next_due(path)
                if due is not None:
                    wait = min(wait, max(due - self.broker.clock.now(), 0.0) + 0.001)
            future: asyncio.Future[None] = loop.create_future()
            self._waiting.setdefault(path, set()).add(future)
            try:
                await asyncio.wait([future], timeout=wait)
            finally:
                waiting = self._waiting.get(path)
                if waiting is not None:
                    waiting.discard(future)
                    if not waiting:
                        del self._waiting[path]
                if not future.done():
                    future.cancel()


async def wait_until_idle(
    broker: Broker,
    paths: Sequence[str],
    *,
    quiet: float = 0.1,
    timeout: float = 10.0,
    grace: float = 0.0,
    poll: float = 0.02,
) -> IdleReport:
    """Return once every entity in ``paths`` has been idle for ``quiet`` wall-clock seconds with no journal entry
    about it; after ``timeout`` seconds return the report of what was still busy (``idle`` false).

    ``grace``: a scheduled message due within this many seconds (engine clock) counts as work still to come.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + max(timeout, 0.0)
    changed = asyncio.Event()
    journal = broker.journal
    seen = journal.recorded

    def on_entry() -> None:
        loop.call_soon_threadsafe(changed.set)

    unsubscribe = journal.subscribe(on_entry)
    try:
        idle_since: float | None = None
        while True:
            if journal.recorded != seen:
                if journal.entries(entity=list(paths), after_id=seen, limit=1):
                    idle_since = None  # something happened on these entities: the quiet time starts again
                seen = journal.recorded
            report = broker.idle_report(paths, grace)
            now = loop.time()
            if report.idle:
                if idle_since is None:
                    idle_since = now
                if now - idle_since >= quiet:
                    return IdleReport(idle=True, busy={}, waited=now - start)
            else:
                idle_since = None
            if now >= deadline:
                busy = report.busy or {path: [f"activity within the last {quiet}s"] for path in paths}
                return IdleReport(idle=False, busy=busy, waited=now - start)
            changed.clear()
            wait = quiet - (now - idle_since) if idle_since is not None else poll
            try:
                await asyncio.wait_for(changed.wait(), max(min(wait, deadline - now), 0.0))
            except TimeoutError:
                pass
    finally:
        unsubscribe()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
