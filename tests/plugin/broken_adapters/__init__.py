"""Adapters for testing the contract suite itself.

Each wraps the real ``InMemoryProvider`` (through ``queue_runtime.testing.FaultInjectingProvider``, which
forwards every call) and breaks exactly one behaviour. ``faithful`` breaks nothing: it is the control
that shows the
wrapping alone passes the suite. All of them share one engine per process, as clients of a real broker would.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from queue_runtime import InMemoryConfig, QueueName, QueueProperties, ReceiptHandle, ReceivedMessage, SessionId
from queue_runtime.broker import Broker, ManualClock, SystemClock
from queue_runtime.errors import SessionCannotBeLockedError
from queue_runtime.ports import QueueProvider, SessionProvider
from queue_runtime.providers.memory import InMemoryProvider, InMemorySession
from queue_runtime.testing import FaultInjectingProvider

_MANUAL = Broker(ManualClock())
_SYSTEM = Broker(SystemClock())
_HELD: dict[tuple[str, str], InMemorySession] = {}


def _memory(*, manual: bool = True) -> InMemoryProvider:
    return InMemoryProvider(
        InMemoryConfig(clock="manual" if manual else "system"), broker=_MANUAL if manual else _SYSTEM
    )


class LosesAbandonedMessages(FaultInjectingProvider):
    """abandon() deletes the message instead of giving it back."""

    async def abandon(self, receipt: ReceiptHandle) -> None:
        await self.inner.complete(receipt)


class NeverCountsDeliveries(FaultInjectingProvider):
    """Every delivery reports delivery_count 1."""

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        found = await self.inner.receive_messages(queue, max_messages, timeout, dead_letter=dead_letter)
        return [dataclasses.replace(m, delivery_count=1) for m in found]


class SharesSessionLocks(FaultInjectingProvider):
    """Locking a named session that another receiver holds hands out the same lock instead of refusing."""

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        try:
            session = await self.inner.accept_session(queue, session_id, timeout)
        except SessionCannotBeLockedError:
            if session_id is None or (str(queue), str(session_id)) not in _HELD:
                raise
            held = _HELD[(str(queue), str(session_id))]
            assert isinstance(self.inner, InMemoryProvider)
            return InMemorySession(self.inner, queue, held._lease)
        if isinstance(session, InMemorySession):
            _HELD[(str(queue), str(session.session_id))] = session
        return session


class LacksGetQueue(FaultInjectingProvider):
    """Has no get_queue (the base class refuses it), as an adapter written without it would."""

    async def get_queue(self, name: QueueName) -> QueueProperties:
        return await QueueProvider.get_queue(self, name)


class DeclaresTooLittle(FaultInjectingProvider):
    """Works like the engine but declares no peek and no deferral (for the conformance report)."""

    def __init__(self, inner: QueueProvider) -> None:
        super().__init__(inner)
        self.capabilities = dataclasses.replace(
            inner.capabilities, provider="declares-too-little", peek=False, deferral=False
        )


def faithful() -> QueueProvider:
    return FaultInjectingProvider(_memory())


def loses_abandoned() -> QueueProvider:
    return LosesAbandonedMessages(_memory())


def never_counts_deliveries() -> QueueProvider:
    return NeverCountsDeliveries(_memory())


def shares_session_locks() -> QueueProvider:
    return SharesSessionLocks(_memory())


def lacks_get_queue() -> QueueProvider:
    return LacksGetQueue(_memory())


def declares_too_little() -> QueueProvider:
    return DeclaresTooLittle(_memory())


def system_clock() -> QueueProvider:
    """A correct provider without virtual time: the suite falls back to short real waits."""
    return FaultInjectingProvider(_memory(manual=False))


def no_sessions() -> QueueProvider:
    provider = FaultInjectingProvider(_memory())
    provider.capabilities = dataclasses.replace(
        provider.capabilities, provider="no-sessions", sessions=type(provider.capabilities.sessions).NONE
    )
    return provider


def no_journal() -> QueueProvider:
    provider = FaultInjectingProvider(_memory())
    provider.capabilities = dataclasses.replace(provider.capabilities, provider="no-journal", journal=False)
    return provider


def not_a_provider() -> object:
    return object()
