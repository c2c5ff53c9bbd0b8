"""Fixtures of the contract suite. The suite only asks for the plugin's fixtures (``queue_client``,
``queue_name_factory``, ``queue_client_factory``, ``queue_message_factory``); a user can redefine any
of them in a
``conftest.py`` of their own. Time passes on the provider's virtual clock where it has one
(``capabilities.clock_control``) and as short real waits where it does not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from queue_runtime import QueueClient
from queue_runtime.ports import ClockControl


class Timeline:
    """How the suite lets time pass. ``lock`` is the lock duration its queues are made with."""

    def __init__(self, clock: ClockControl | None) -> None:
        self.clock = clock
        # Virtual time costs nothing, so locks are realistic; real waits are kept short (QueueOptions' minimum
        # is 1 s; 2 s leaves room for providers whose timers have whole-second granularity).
        self.lock = timedelta(seconds=30) if clock else timedelta(seconds=2)

    @property
    def virtual(self) -> bool:
        return self.clock is not None

    async def now(self) -> datetime:
        return await self.clock.now() if self.clock else datetime.now(UTC)

    async def elapse(self, delta: timedelta) -> None:
        if self.clock is not None:
            await self.clock.advance(delta)
        else:
            await asyncio.sleep(delta.total_seconds())

    def part(self, fraction: float) -> timedelta:
        return self.lock * fraction


@pytest_asyncio.fixture(loop_scope="function")
async def timeline(queue_client: QueueClient) -> Timeline:
    clock = queue_client.provider.clock if queue_client.capabilities.clock_control else None
    return Timeline(clock)
