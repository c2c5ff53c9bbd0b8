"""``queue_target``: the provider the queue fixtures talk to, built once per session (and per provider when
``--queue-provider`` lists several). Every branch ends in the same :class:`ProviderTarget` shape."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from queue_runtime import (
    AwsSqsConfig,
    AzureServiceBusConfig,
    EmulatorConfig,
    InMemoryConfig,
    PluginProviderConfig,
    QueueConfig,
    QueueProvider,
)
from queue_runtime.providers import create_provider

from ..config import QueueRuntimeConfig, get_config
from ..targets import EmulatorHandle, ProviderTarget
from ._signature import depends_on

__all__ = ["queue_target"]


def _memory_target() -> ProviderTarget:
    from queue_runtime.broker import Broker, ManualClock
    from queue_runtime.providers.memory import InMemoryProvider

    # One engine for the session: every client of a test (competing consumers, a second session receiver)
    # must see the same queues. Names are unique per test, so tests never see each other's messages.
    settings = InMemoryConfig(clock="manual")
    broker = Broker(ManualClock())

    async def open_provider() -> QueueProvider:
        return InMemoryProvider(settings, broker=broker)

    return ProviderTarget("memory", open_provider, QueueConfig(provider=settings), "in-process engine")


def _from_config(name: str, provider: Any, description: str) -> ProviderTarget:
    async def open_provider() -> QueueProvider:
        return await create_provider(provider)

    return ProviderTarget(name, open_provider, QueueConfig(provider=provider), description)


def _emulator_target(handle: EmulatorHandle) -> ProviderTarget:
    from queue_runtime.providers.emulator import EmulatorProvider

    settings = EmulatorConfig(url=handle.url)

    async def open_provider() -> QueueProvider:
        # connect() reads the server's limits and clock mode, so the declared capabilities are the server's.
        return await EmulatorProvider.connect(settings)

    return ProviderTarget(
        "emulator", open_provider, QueueConfig(provider=settings), f"{handle.mode} at {handle.url}"
    )


def _sqs_target(name: str, endpoint: str, region: str) -> ProviderTarget:
    settings = AwsSqsConfig(
        endpoint_url=endpoint,
        region=region,
        access_key_id="testing",
        secret_access_key="testing",
        use_fifo_queues=name == "sqs-fifo",
    )
    return _from_config(name, settings, f"endpoint {endpoint}")


def _servicebus_target(connection_string: str, management_url: str | None, description: str) -> ProviderTarget:
    settings = AzureServiceBusConfig(connection_string=connection_string, emulator_management_url=management_url)
    return _from_config("servicebus", settings, description)


AZURE_CONNECTION_ENV = "AZURE_SERVICEBUS_CONNECTION_STRING"
AZURE_NAMESPACE_ENV = "AZURE_SERVICEBUS_NAMESPACE"


def _azure_target() -> ProviderTarget:
    """A real namespace: queues are created (and deleted) with unique names by the fixtures, so a shared
    namespace is safe. Without credentials every test of this provider is skipped, saying why."""
    connection_string = os.environ.get(AZURE_CONNECTION_ENV)
    namespace = os.environ.get(AZURE_NAMESPACE_ENV)
    if connection_string:
        settings = AzureServiceBusConfig(connection_string=connection_string)
        where = "connection string"
    elif namespace:
        settings = AzureServiceBusConfig(namespace=namespace)  # azure-identity's default credential chain
        where = namespace
    else:
        pytest.skip(
            f"real Azure Service Bus: neither {AZURE_CONNECTION_ENV} nor {AZURE_NAMESPACE_ENV} is set"
        )
    return _from_config("azure", settings, f"Azure Service Bus ({where})")


def _start_moto() -> tuple[str, Callable[[], None]]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}", server.stop


def _build(name: str, settings: QueueRuntimeConfig, request: pytest.FixtureRequest, stack: list[Any]) -> Any:
    if name == "memory":
        return _memory_target()
    if name == "emulator":
        return _emulator_target(request.getfixturevalue("queue_emulator"))
    if name in ("sqs", "sqs-fifo"):
        endpoint = settings.sqs_endpoint
        if endpoint is None:
            endpoint, stop = _start_moto()
            stack.append(stop)
        return _sqs_target(name, endpoint, settings.sqs_region)
    if name == "azure":
        return _azure_target()
    if name == "servicebus":
        if settings.servicebus_connection_string is not None:
            return _servicebus_target(settings.servicebus_connection_string, None, "Azure Service Bus")
        # No namespace given: the SDK talks AMQP to the session's emulator, queues are made over its REST API.
        handle: EmulatorHandle = request.getfixturevalue("queue_emulator")
        connection_string = handle.servicebus_connection_string
        if connection_string is None:
            raise pytest.UsageError(
                "--queue-provider=servicebus without a connection string needs an emulator with its AMQP front on"
            )
        return _servicebus_target(connection_string, handle.url, f"emulator AMQP front ({handle.mode})")
    return _from_config(name, PluginProviderConfig(name=name), "third-party adapter")


def queue_target(provider_name_fixture: str = "queue_provider_name") -> Any:
    """A session fixture building the :class:`ProviderTarget` for the provider named by
    ``provider_name_fixture``. Whatever it started (moto, for example) is stopped at the end of the
    session, newest first."""

    @pytest.fixture(scope="session")
    @depends_on(provider_name_fixture)
    def queue_target_fixture(request: pytest.FixtureRequest, **deps: Any) -> Iterator[ProviderTarget]:
        name: str = deps[provider_name_fixture]
        stack: list[Callable[[], None]] = []
        try:
            yield _build(name, get_config(request.config), request, stack)
        finally:
            while stack:
                stack.pop()()

    return queue_target_fixture
