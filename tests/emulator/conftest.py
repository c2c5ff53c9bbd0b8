"""Fixtures for the emulator tests. Names start with ``emu_`` so they never shadow the pytest plugin's fixtures."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from emu_support import Target
from queue_emulator.app import create_app
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

from queue_runtime import EmulatorConfig, InMemoryConfig, QueueName
from queue_runtime.ports import QueueProvider
from queue_runtime.providers.emulator import EmulatorControl, EmulatorProvider
from queue_runtime.providers.memory import InMemoryProvider

_names = itertools.count()


@pytest.fixture(scope="session")
def emu_thread() -> Iterator[EmulatorThread]:
    """One emulator (manual clock) per test session and xdist worker; tests reset it."""
    with EmulatorThread(EmulatorSettings(clock="manual")) as emulator:
        yield emulator


@pytest.fixture
def emu_queue_name(request: pytest.FixtureRequest) -> QueueName:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:50].strip("-")
    return QueueName(f"{base}-{next(_names)}")


@pytest_asyncio.fixture(params=["memory", "emulator"])
async def emu_target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "memory":
        provider: QueueProvider = InMemoryProvider(InMemoryConfig(clock="manual", max_batch_size=100))
    else:
        emulator: EmulatorThread = request.getfixturevalue("emu_thread")
        async with EmulatorControl(emulator.url) as control:
            await control.reset()
        provider = await EmulatorProvider.connect(EmulatorConfig(url=emulator.url))
    clock = provider.clock
    assert clock is not None
    try:
        yield Target(request.param, provider, clock)
    finally:
        await provider.aclose()


@pytest_asyncio.fixture
async def emu_http() -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    """A fresh app (manual clock) served on loopback, with an aiohttp test client. Its AMQP front takes a free
    port: the default 5672 would collide between xdist workers (and with anything else on the machine)."""
    async with TestClient(TestServer(create_app(EmulatorSettings(admin=False, clock="manual", amqp_port=0)))) as client:
        yield client
