"""Function-scoped fixtures over a :class:`ProviderTarget`: clients, fresh queues, the clock and faults.

Factories record what they make and close it in teardown, newest first (pytest-aiohttp's pattern). Each
callable a fixture hands out has its signature written down as a ``Protocol``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Protocol

import pytest

from queue_runtime import QueueClient, QueueConfig, QueueOptions
from queue_runtime.errors import QueueError, QueueNotFoundError
from queue_runtime.ports import ClockControl, FaultControl

from ..journal import QueueJournal
from ..names import unique_queue_name
from ..targets import ProviderTarget
from ._signature import async_fixture, depends_on

__all__ = [
    "QueueClientFactory",
    "QueueClock",
    "QueueNameFactory",
    "missing_capability_reason",
    "queue_client",
    "queue_client_factory",
    "queue_clock",
    "queue_faults",
    "queue_journal",
    "queue_name",
    "queue_name_factory",
]


class QueueClientFactory(Protocol):
    """``await queue_client_factory()`` returns one more client on the same provider
    (closed after the test)."""

    async def __call__(self, *, config: QueueConfig | None = None, **client_options: Any) -> QueueClient: ...


class QueueNameFactory(Protocol):
    """``await queue_name_factory(lock_duration=timedelta(seconds=5))`` creates a fresh queue and returns
    its name; it is deleted after the test."""

    async def __call__(
        self, options: QueueOptions | None = None, /, *, client: QueueClient | None = None, **settings: Any
    ) -> str: ...


def missing_capability_reason(capability: str, provider: str, because: str | None = None) -> str:
    reason = f"requires capability '{capability}', which provider '{provider}' does not declare"
    return f"{reason} ({because})" if because else reason


def provider_label(request: pytest.FixtureRequest, client: QueueClient) -> str:
    """The provider as the user spelled it (``sqs-fifo``), else what the client declares."""
    try:
        return str(request.getfixturevalue("queue_provider_name"))
    except pytest.FixtureLookupError:
        return client.capabilities.provider


def _clock_disabled_by(request: pytest.FixtureRequest, label: str) -> str | None:
    """An explicit setting that switched the clock off for this run, said in the skip reason."""
    from ..config import get_config

    settings = get_config(request.config)
    if label not in ("emulator", "servicebus") or settings.emulator_clock != "system":
        return None
    where = settings.source("queue_emulator_clock")
    return f"the emulator was started with a system clock by {where}" if where else None


def queue_client_factory(target_fixture: str = "queue_target") -> Any:
    @async_fixture
    @depends_on(target_fixture)
    async def queue_client_factory_fixture(
        request: pytest.FixtureRequest, **deps: Any
    ) -> AsyncIterator[QueueClientFactory]:
        target: ProviderTarget = deps[target_fixture]
        made: list[QueueClient] = []

        async def make(*, config: QueueConfig | None = None, **client_options: Any) -> QueueClient:
            provider = await target.open_provider()
            client = QueueClient(provider, config or target.config, **client_options)
            made.append(client)
            return client

        yield make
        errors: list[BaseException] = []
        while made:
            try:
                await _close(made.pop())
            except Exception as exc:  # close the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]

    return queue_client_factory_fixture


async def _close(client: QueueClient) -> None:
    """Close a client. A session still open on a queue the test already deleted cannot be released; that is
    not an error of the test, so closing goes on with the client's other sessions and its provider."""
    for _ in range(100):
        try:
            await client.aclose()
            return
        except QueueNotFoundError:
            continue  # the failed session was already dropped from the client; try the rest


def queue_client(factory_fixture: str = "queue_client_factory") -> Any:
    @async_fixture
    @depends_on(factory_fixture)
    async def queue_client_fixture(request: pytest.FixtureRequest, **deps: Any) -> QueueClient:
        make: QueueClientFactory = deps[factory_fixture]
        return await make()

    return queue_client_fixture


def queue_name_factory(client_fixture: str = "queue_client") -> Any:
    @async_fixture
    @depends_on(client_fixture)
    async def queue_name_factory_fixture(
        request: pytest.FixtureRequest, **deps: Any
    ) -> AsyncIterator[QueueNameFactory]:
        default_client: QueueClient = deps[client_fixture]
        made: list[tuple[QueueClient, str]] = []

        async def make(
            options: QueueOptions | None = None, /, *, client: QueueClient | None = None, **settings: Any
        ) -> str:
            chosen = client or default_client
            opts = options or QueueOptions.model_validate(settings)
            if opts.requires_session and not chosen.capabilities.supports("sessions"):
                pytest.skip(missing_capability_reason("sessions", provider_label(request, chosen)))
            name = unique_queue_name(request.node.name)
            await chosen.create_queue(name, opts)
            made.append((chosen, name))
            return name

        yield make
        while made:
            client, name = made.pop()
            try:
                await client.delete_queue(name)
            except QueueNotFoundError:
                pass  # the test deleted it itself
            except QueueError:
                if not getattr(client, "_closed", False):
                    raise

    return queue_name_factory_fixture


def queue_name(factory_fixture: str = "queue_name_factory", **settings: Any) -> Any:
    """A fresh queue made with ``settings`` (e.g. ``requires_session=True``) before the test,
    deleted after."""

    @async_fixture
    @depends_on(factory_fixture)
    async def queue_name_fixture(request: pytest.FixtureRequest, **deps: Any) -> str:
        make: QueueNameFactory = deps[factory_fixture]
        return await make(**settings)

    return queue_name_fixture


class QueueClock:
    """Virtual time of the provider under test: ``await queue_clock.advance(seconds=31)``."""

    def __init__(self, control: ClockControl) -> None:
        self.control = control

    async def now(self) -> datetime:
        return await self.control.now()

    async def advance(self, delta: timedelta | float | None = None, **parts: float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds) or by ``timedelta(**parts)``."""
        step = timedelta(**parts) if delta is None else delta
        if isinstance(step, int | float):
            step = timedelta(seconds=step)
        return await self.control.advance(step)


def queue_clock(client_fixture: str = "queue_client") -> Any:
    @async_fixture
    @depends_on(client_fixture)
    async def queue_clock_fixture(request: pytest.FixtureRequest, **deps: Any) -> QueueClock:
        client: QueueClient = deps[client_fixture]
        control = client.provider.clock
        if control is None or not client.capabilities.clock_control:
            label = provider_label(request, client)
            pytest.skip(missing_capability_reason("clock_control", label, _clock_disabled_by(request, label)))
        return QueueClock(control)

    return queue_clock_fixture


def queue_faults(client_fixture: str = "queue_client") -> Any:
    @async_fixture
    @depends_on(client_fixture)
    async def queue_faults_fixture(
        request: pytest.FixtureRequest, **deps: Any
    ) -> AsyncIterator[FaultControl]:
        client: QueueClient = deps[client_fixture]
        control = client.provider.faults
        if control is None or not client.capabilities.fault_injection:
            pytest.skip(missing_capability_reason("fault_injection", provider_label(request, client)))
        yield control
        await control.clear()

    return queue_faults_fixture


def queue_journal(client_fixture: str = "queue_client") -> Any:
    @async_fixture
    @depends_on(client_fixture)
    async def queue_journal_fixture(request: pytest.FixtureRequest, **deps: Any) -> QueueJournal:
        client: QueueClient = deps[client_fixture]
        control = client.provider.journal
        if control is None or not client.capabilities.journal:
            pytest.skip(missing_capability_reason("journal", provider_label(request, client)))
        return await QueueJournal.start(control)

    return queue_journal_fixture
