"""The one seam adapters plug into: ``QueueProvider``, ``SessionProvider`` and ``Capabilities``.

An adapter for another broker subclasses :class:`QueueProvider` (and :class:`SessionProvider` if it has sessions),
declares what it can do in :class:`Capabilities`, and translates its SDK's errors into
:mod:`queue_runtime.errors` at its own edge. Everything else (argument validation, retries, the circuit breaker,
timeouts, logs, spans and metrics) comes from :class:`queue_runtime.QueueClient`, which wraps any provider.

Rules every implementation follows (the contract suite, ``queue_contract_tests``, checks them):

- Only our own models cross the seam: ``Message`` in, ``ReceivedMessage``/``PeekedMessage`` out, ``ReceiptHandle``
  as the opaque proof of a lock. No SDK type leaks out.
- A receive waits up to ``timeout`` and returns as soon as at least one message is there; an empty list means none.
- Settling with a stale receipt raises :class:`~queue_runtime.errors.MessageLockLostError` and never loses the
  message: it becomes receivable again.
- An operation the provider cannot do raises :class:`~queue_runtime.errors.UnsupportedOperationError`; the base
  classes below already do that for every optional operation, so an adapter implements only what it declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from ._identifiers import MessageId, QueueName, SessionId, SubscriptionName
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._queues import QueueOptions, QueueProperties, SessionSupport
from ._topics import RuleProperties, SubscriptionOptions, SubscriptionProperties, TopicOptions, TopicProperties
from .broker.engine import IdleReport
from .broker.journal import JournalEntry
from .errors import QueueError, QueueNotFoundError, UnsupportedOperationError

__all__ = [
    "Capabilities",
    "ClockControl",
    "FaultControl",
    "JournalControl",
    "ProviderSettledSession",
    "QueueProvider",
    "SessionProvider",
    "SessionSupport",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do. The core client and the contract suite read these; nothing reads provider names.

    ``max_message_size`` counts body bytes plus the UTF-8 length of attribute names and values.
    """

    provider: str
    sessions: SessionSupport = SessionSupport.NONE
    session_accept_specific: bool = False
    session_state: bool = False
    max_batch_size: int = 1
    max_message_size: int = 256 * 1024
    dead_letter: bool = False
    scheduling: bool = False
    cancel_scheduled: bool = False
    deferral: bool = False
    peek: bool = False
    lock_renewal: bool = False
    duplicate_detection: bool = False
    ttl: bool = False
    clock_control: bool = False
    fault_injection: bool = False
    queue_management: bool = True
    journal: bool = False  # an operation journal and wait-until-idle (``provider.journal``)
    # Publish/subscribe: topics, subscriptions (received from by SubscriptionName) and rules.
    topics: bool = False
    notes: tuple[str, ...] = ()

    def supports(self, capability: str) -> bool:
        """True if the named capability is present: a true flag, a positive number, or sessions other than none."""
        names = {f.name for f in fields(self)}
        if capability not in names:
            raise ValueError(f"unknown capability {capability!r}; known: {', '.join(sorted(names))}")
        value = getattr(self, capability)
        if isinstance(value, SessionSupport):
            return value is not SessionSupport.NONE
        return bool(value)

    def as_dict(self) -> dict[str, Any]:
        result = {f.name: getattr(self, f.name) for f in fields(self)}
        result["sessions"] = self.sessions.value
        result["notes"] = list(self.notes)
        return result


class ClockControl:
    """Virtual time, where a provider has it (the in-memory provider and the emulator in manual-clock mode)."""

    async def now(self) -> datetime:
        raise NotImplementedError

    async def advance(self, delta: timedelta) -> datetime:
        """Move time forward; locks, scheduled messages and TTLs follow. Returns the new time."""
        raise NotImplementedError


class FaultControl:
    """Make a provider fail on purpose (the emulator's fault injection).

    ``operation`` names are the client's: ``send``, ``receive``, ``complete``, ``abandon``, ``dead_letter``,
    ``defer``, ``renew_lock``, ``peek``, ``schedule``, ``cancel_scheduled``, ``receive_deferred``,
    ``accept_session``, ``session_receive``, ``renew_session_lock``, ``get_session_state``, ``set_session_state``,
    ``release_session``, ``create_queue``, ``get_queue``, ``delete_queue``.
    """

    async def inject(
        self,
        operation: str,
        *,
        error: str = "service_unavailable",
        count: int = 1,
        latency: timedelta | None = None,
        queue: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``operation`` (on ``queue``, or on any queue) fail with the error whose code
        is ``error`` (or, with ``error="none"``, only wait ``latency``)."""
        raise NotImplementedError

    async def clear(self) -> None:
        raise NotImplementedError


HEALTH_PROBE_QUEUE = "queue-runtime-health-probe"


class JournalControl:
    """What the broker did, operation by operation, and waiting until queues are idle (the in-memory provider
    and the emulator). Entries are :class:`queue_runtime.broker.JournalEntry`; see docs/journal.md."""

    async def entries(
        self,
        *,
        queues: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        message_id: str | None = None,
        since: datetime | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Matching entries, oldest first. ``queues`` also covers each queue's dead-letter queue."""
        raise NotImplementedError

    async def wait_until_idle(
        self, queues: Sequence[str], *, timeout: float = 10.0, quiet: float = 0.1, grace: float = 0.0
    ) -> IdleReport:
        """Wait until every queue has nothing receivable, locked, or scheduled within ``grace`` seconds, and has
        stayed so for ``quiet`` seconds; after ``timeout`` seconds the report says what was still busy."""
        raise NotImplementedError


def _unsupported(capabilities: Capabilities, what: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"provider '{capabilities.provider}' does not support {what}",
        details={"provider": capabilities.provider, "operation": what},
    )


class SessionProvider:
    """A held session lock on one queue: receive in order, settle, renew, keep state, close."""

    capabilities: Capabilities
    queue: QueueName

    @property
    def session_id(self) -> SessionId:
        raise NotImplementedError

    @property
    def locked_until(self) -> datetime | None:
        raise NotImplementedError

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        raise NotImplementedError

    async def complete(self, receipt: ReceiptHandle) -> None:
        raise NotImplementedError

    async def abandon(self, receipt: ReceiptHandle) -> None:
        raise NotImplementedError

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        raise _unsupported(self.capabilities, "dead-lettering")

    async def defer(self, receipt: ReceiptHandle) -> int:
        raise _unsupported(self.capabilities, "deferral")

    async def renew_session_lock(self) -> datetime:
        raise _unsupported(self.capabilities, "session lock renewal")

    async def get_state(self) -> bytes | None:
        raise _unsupported(self.capabilities, "session state")

    async def set_state(self, state: bytes | None) -> None:
        raise _unsupported(self.capabilities, "session state")

    async def close(self) -> None:
        """Release the session lock; unsettled messages become receivable again."""
        raise NotImplementedError


class QueueProvider:
    """The adapter interface. Subclass it, set ``capabilities``, implement the required methods."""

    capabilities: Capabilities

    # -- provisioning
    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        raise _unsupported(self.capabilities, "creating queues")

    async def delete_queue(self, name: QueueName) -> None:
        raise _unsupported(self.capabilities, "deleting queues")

    async def get_queue(self, name: QueueName) -> QueueProperties:
        raise _unsupported(self.capabilities, "reading queue properties")

    async def update_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        """Replace a queue's settings (``requires_session`` cannot change; forwarding targets must exist)."""
        raise _unsupported(self.capabilities, "updating queues")

    # -- publish/subscribe (capability ``topics``); messages go through the methods below, by entity name
    async def create_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        raise _unsupported(self.capabilities, "topics")

    async def update_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        raise _unsupported(self.capabilities, "topics")

    async def get_topic(self, name: QueueName) -> TopicProperties:
        raise _unsupported(self.capabilities, "topics")

    async def list_topics(self) -> list[TopicProperties]:
        raise _unsupported(self.capabilities, "topics")

    async def delete_topic(self, name: QueueName) -> None:
        raise _unsupported(self.capabilities, "topics")

    async def create_subscription(
        self, name: SubscriptionName, options: SubscriptionOptions, rule: RuleProperties | None
    ) -> SubscriptionProperties:
        """Create a subscription with ``rule``, or the ``$Default`` rule (true filter) when None."""
        raise _unsupported(self.capabilities, "topics")

    async def update_subscription(self, name: SubscriptionName, options: SubscriptionOptions) -> SubscriptionProperties:
        raise _unsupported(self.capabilities, "topics")

    async def get_subscription(self, name: SubscriptionName) -> SubscriptionProperties:
        raise _unsupported(self.capabilities, "topics")

    async def list_subscriptions(self, topic: QueueName) -> list[SubscriptionProperties]:
        raise _unsupported(self.capabilities, "topics")

    async def delete_subscription(self, name: SubscriptionName) -> None:
        raise _unsupported(self.capabilities, "topics")

    async def create_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        raise _unsupported(self.capabilities, "topics")

    async def update_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        raise _unsupported(self.capabilities, "topics")

    async def delete_rule(self, subscription: SubscriptionName, rule_name: str) -> None:
        raise _unsupported(self.capabilities, "topics")

    async def list_rules(self, subscription: SubscriptionName) -> list[RuleProperties]:
        raise _unsupported(self.capabilities, "topics")

    # -- messages (required)
    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        """Send all or none; ``len(messages)`` never exceeds ``capabilities.max_batch_size``."""
        raise NotImplementedError

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        raise NotImplementedError

    async def complete(self, receipt: ReceiptHandle) -> None:
        raise NotImplementedError

    async def abandon(self, receipt: ReceiptHandle) -> None:
        raise NotImplementedError

    async def complete_messages(self, receipts: Sequence[ReceiptHandle]) -> list[QueueError | None]:
        """Complete many; one result per receipt (``None`` = completed, else the error for that one).

        The default completes one by one; providers with a batch call (the emulator, SQS) override it.
        """
        results: list[QueueError | None] = []
        for receipt in receipts:
            try:
                await self.complete(receipt)
            except QueueError as exc:
                results.append(exc)
            else:
                results.append(None)
        return results

    # -- optional, by capability
    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        raise _unsupported(self.capabilities, "dead-lettering")

    async def defer(self, receipt: ReceiptHandle) -> int:
        raise _unsupported(self.capabilities, "deferral")

    async def receive_deferred(self, queue: QueueName, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        raise _unsupported(self.capabilities, "deferral")

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        raise _unsupported(self.capabilities, "lock renewal")

    async def peek_messages(
        self, queue: QueueName, max_messages: int, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        raise _unsupported(self.capabilities, "peek")

    async def schedule_messages(self, queue: QueueName, messages: Sequence[Message], at: datetime) -> list[int]:
        raise _unsupported(self.capabilities, "scheduling")

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        raise _unsupported(self.capabilities, "scheduling")

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        """Lock ``session_id`` (or the next session with messages, waiting up to ``timeout``); None if none came."""
        raise _unsupported(self.capabilities, "sessions")

    # -- health
    async def ping(self, queue: QueueName | None = None) -> dict[str, Any]:
        """One cheap round trip to the backend, for ``QueueClient.health()``; raises a ``QueueError`` when it is
        unreachable. With ``queue``, that queue must exist too. Returns details the provider wants to report.

        The default reads ``queue``'s properties, or those of a queue that does not exist (a "not found" is an
        answer from the broker too). Override it where the backend has a health endpoint of its own.
        """
        try:
            await self.get_queue(queue or QueueName(HEALTH_PROBE_QUEUE))
        except QueueNotFoundError:
            if queue is not None:
                raise
        return {}

    @property
    def clock(self) -> ClockControl | None:
        return None

    @property
    def faults(self) -> FaultControl | None:
        return None

    @property
    def journal(self) -> JournalControl | None:
        return None

    async def aclose(self) -> None:
        """Release connections. Called once by the client that owns the provider."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class ProviderSettledSession(SessionProvider):
    """A session whose messages settle through its provider's own calls (the receipt says everything needed).

    Set ``self._provider`` in ``__init__``; complete, abandon, dead-letter and defer then forward to it.
    """

    _provider: QueueProvider

    async def complete(self, receipt: ReceiptHandle) -> None:
        await self._provider.complete(receipt)

    async def abandon(self, receipt: ReceiptHandle) -> None:
        await self._provider.abandon(receipt)

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        await self._provider.dead_letter(receipt, reason, description)

    async def defer(self, receipt: ReceiptHandle) -> int:
        return await self._provider.defer(receipt)
