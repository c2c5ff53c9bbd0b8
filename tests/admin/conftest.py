"""One emulator per session for the administration tests: manual clock, every front on a free loopback port.

The clients are the real ``ServiceBusAdministrationClient`` (sync and async) over HTTPS, trusting the CA the
emulator generated at start (``connection_verify=<ca.pem>``), and the real ``ServiceBusClient`` over AMQP.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from azure.servicebus import ServiceBusClient
from azure.servicebus.aio.management import ServiceBusAdministrationClient as AsyncAdministrationClient
from azure.servicebus.management import ServiceBusAdministrationClient
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

_names = itertools.count()


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(clock="manual")) as running:
        yield running


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-").lower()
    return f"{base}-{next(_names)}"


@pytest.fixture
def admin(emulator: EmulatorThread) -> Iterator[ServiceBusAdministrationClient]:
    assert emulator.servicebus_admin_connection_string is not None and emulator.ca_path is not None
    with ServiceBusAdministrationClient.from_connection_string(
        emulator.servicebus_admin_connection_string, connection_verify=str(emulator.ca_path), retry_total=0
    ) as client:
        yield client


@pytest_asyncio.fixture
async def async_admin(emulator: EmulatorThread) -> AsyncIterator[AsyncAdministrationClient]:
    assert emulator.servicebus_admin_connection_string is not None and emulator.ca_path is not None
    async with AsyncAdministrationClient.from_connection_string(
        emulator.servicebus_admin_connection_string, connection_verify=str(emulator.ca_path), retry_total=0
    ) as client:
        yield client


@pytest.fixture
def bus(emulator: EmulatorThread) -> Iterator[ServiceBusClient]:
    assert emulator.servicebus_connection_string is not None
    with ServiceBusClient.from_connection_string(emulator.servicebus_connection_string) as client:
        yield client
