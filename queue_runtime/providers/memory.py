"""The in-memory provider: the real broker engine, in this process. Faithful, not a stub: the emulator runs the
same engine, so anything that passes here behaves the same against the emulator."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .._config import InMemoryConfig
from .._identifiers import MessageId, QueueName, SessionId, SubscriptionName
from .._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage, attributes_from_properties
from .._queues import QueueOptions, QueueProperties, SessionSupport
from .._topics import RuleProperties, SubscriptionOptions, SubscriptionProperties, TopicOptions, TopicProperties
from ..broker import (
    Broker,
    BrokerLimits,
    BrokerMessage,
    ManualClock,
    SessionLease,
    SystemClock,
    dead_letter_path,
)
from ..broker.engine import IdleReport
from ..broker.journal import Journal, JournalEntry
from ..broker.waiting import BrokerWaiter, wait_until_idle
from ..errors import BatchTooLargeError, QueueNotFoundError, SessionLockLostError, ValidationError
from ..ports import (
    Capabilities,
    ClockControl,
    JournalControl,
    ProviderSettledSession,
    QueueProvider,
    SessionProvider,
)

__all__ = ["InMemoryProvider", "broker_message_from", "peeked_from", "received_from"]

PUBLIC_STATES = {"available": "active"}  # engine state name -> PeekedMessage.state; others keep their name


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def broker_message_from(message: Message) -> BrokerMessage:
    return BrokerMessage(
        body=message.body,
        message_id=str(message.message_id) if message.message_id else uuid.uuid4().hex,
        session_id=message.session_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        subject=message.subject,
        time_to_live=message.time_to_live.total_seconds() if message.time_to_live else None,
        scheduled_enqueue_time=(
            message.scheduled_enqueue_time.timestamp() if message.scheduled_enqueue_time else None
        ),
        application_properties=dict(message.attributes),
    )


def _common_fields(message: BrokerMessage) -> dict[str, Any]:
    return {
        "body": message.body,
        "message_id": MessageId.delivered(message.message_id or f"seq-{message.sequence_number}"),
        "sequence_number": message.sequence_number,
        "enqueued_time": datetime.fromtimestamp(message.enqueued_time, UTC),
        "delivery_count": message.delivery_count,
        "attributes": attributes_from_properties(message.application_properties),
        "session_id": SessionId.delivered(message.session_id) if message.session_id else None,
        "correlation_id": message.correlation_id,
        "content_type": message.content_type,
        "subject": message.subject,
        "time_to_live": timedelta(seconds=message.time_to_live) if message.time_to_live else None,
        "scheduled_enqueue_time": _ts(message.scheduled_enqueue_time),
        "dead_letter_reason": message.dead_letter_reason,
        "dead_letter_description": message.dead_letter_description,
        "state": PUBLIC_STATES.get(message.state.value, message.state.value),
    }


def peeked_from(message: BrokerMessage) -> PeekedMessage:
    return PeekedMessage(**_common_fields(message))


def received_from(message: BrokerMessage, queue: QueueName, *, dead_letter: bool) -> ReceivedMessage:
    locked_until = _ts(message.locked_until)
    assert message.lock_token is not None
    receipt = ReceiptHandle(
        token=message.lock_token,
        queue=queue,
        dead_letter=dead_letter,
        session_id=SessionId.delivered(message.session_id) if message.session_id else None,
        locked_until=locked_until,
    )
    return ReceivedMessage(**_common_fields(message), receipt_handle=receipt, locked_until=locked_until)


def _path(queue: QueueName, dead_letter: bool) -> str:
    return dead_letter_path(queue) if dead_letter else str(queue)


class _ManualClockControl(ClockControl):
    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock

    async def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    async def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValidationError("delta", "time cannot go backwards")
        return datetime.fromtimestamp(self._clock.advance(delta), UTC)


class _MemoryJournal(JournalControl):
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

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
        return self._broker.journal.entries(
            entity=list(queues) if queues is not None else None, kinds=kinds, message_id=message_id,
            since=since.timestamp() if since is not None else None, after_id=after_id, limit=limit,
        )

    async def wait_until_idle(
        self, queues: Sequence[str], *, timeout: float = 10.0, quiet: float = 0.1, grace: float = 0.0
    ) -> IdleReport:
        return await wait_until_idle(self._broker, list(queues), quiet=quiet, timeout=timeout, grace=grace)


class InMemoryProvider(QueueProvider):
    def __init__(self, config: InMemoryConfig | None = None, *, broker: Broker | None = None) -> None:
        config = config or InMemoryConfig()
        if broker is None:
            clock = ManualClock() if config.clock == "manual" else SystemClock()
            broker = Broker(
                clock,
                limits=BrokerLimits(max_message_size=config.max_message_size),
                auto_create=config.auto_create,
                journal=Journal(config.journal_size),
            )
        self.broker = broker
        self._waiter = BrokerWaiter(broker)
        manual = isinstance(broker.clock, ManualClock)
        self._clock = _ManualClockControl(broker.clock) if isinstance(broker.clock, ManualClock) else None
        self.capabilities = Capabilities(
            provider="memory",
            sessions=SessionSupport.NATIVE,
            session_accept_specific=True,
            session_state=True,
            max_batch_size=config.max_batch_size,
            max_message_size=broker.limits.max_message_size,
            dead_letter=True,
            scheduling=True,
            cancel_scheduled=True,
            deferral=True,
            peek=True,
            lock_renewal=True,
            duplicate_detection=True,
            ttl=True,
            clock_control=manual,
            journal=broker.journal.enabled,
            topics=True,
        )
        self._journal = _MemoryJournal(broker)

    def __repr__(self) -> str:
        return f"InMemoryProvider(clock={self.broker.clock!r})"

    @property
    def journal(self) -> JournalControl | None:
        return self._journal if self.capabilities.journal else None

    @property
    def clock(self) -> ClockControl | None:
        return self._clock

    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        return self.broker.create_queue(name, options)

    async def delete_queue(self, name: QueueName) -> None:
        self.broker.delete_queue(name)

    async def ping(self, queue: QueueName | None = None) -> dict[str, Any]:
        """In process there is nothing to reach; with ``queue``, that queue must exist. The default probe (reading
        a queue that does not exist) would create it under ``auto_create``."""
        if queue is not None:
            await self.get_queue(queue)
        return {}

    async def get_queue(self, name: QueueName) -> QueueProperties:
        return self.broker.get_queue(name)

    async def update_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        return self.broker.update_queue(name, options)

    async def create_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        return self.broker.create_topic(name, options)

    async def update_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        return self.broker.update_topic(name, options)

    async def get_topic(self, name: QueueName) -> TopicProperties:
        return self.broker.get_topic(name)

    async def list_topics(self) -> list[TopicProperties]:
        return [self.broker.get_topic(name) for name in self.broker.topic_names()]

    async def delete_topic(self, name: QueueName) -> None:
        self.broker.delete_topic(name)

    async def create_subscription(
        self, name: SubscriptionName, options: SubscriptionOptions, rule: RuleProperties | None
    ) -> SubscriptionProperties:
        return self.broker.create_subscription(name.topic, name.subscription, options, rule)

    async def update_subscription(self, name: SubscriptionName, options: SubscriptionOptions) -> SubscriptionProperties:
        return self.broker.update_subscription(name.topic, name.subscription, options)

    async def get_subscription(self, name: SubscriptionName) -> SubscriptionProperties:
        return self.broker.get_subscription(name.topic, name.subscription)

    async def list_subscriptions(self, topic: QueueName) -> list[SubscriptionProperties]:
        return [self.broker.get_subscription(topic, sub) for sub in self.broker.subscription_names(topic)]

    async def delete_subscription(self, name: SubscriptionName) -> None:
        self.broker.delete_subscription(name.topic, name.subscription)

    async def create_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        return self.broker.create_rule(subscription.topic, subscription.subscription, rule)

    async def update_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        return self.broker.update_rule(subscription.topic, subscription.subscription, rule)

    async def delete_rule(self, subscription: SubscriptionName, rule_name: str) -> None:
        self.broker.delete_rule(subscription.topic, subscription.subscription, rule_name)

    async def list_rules(self, subscription: SubscriptionName) -> list[RuleProperties]:
        return self.broker.rules(subscription.topic, subscription.subscription)

    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        if len(messages) > self.capabilities.max_batch_size:
            raise BatchTooLargeError(len(messages), self.capabilities.max_batch_size)
        records = [broker_message_from(m) for m in messages]
        self.broker.send(queue, records)
        return [MessageId(r.message_id or "") for r in records]

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        path = _path(queue, dead_letter)
        found = await self._waiter.wait_for(
            path, lambda: self.broker.receive(path, max_messages), timeout.total_seconds()
        )
        return [received_from(m, queue, dead_letter=dead_letter) for m in found or []]

    async def complete(self, receipt: ReceiptHandle) -> None:
        self.broker.complete(_path(receipt.queue, receipt.dead_letter), receipt.token)

    async def abandon(self, receipt: ReceiptHandle) -> None:
        self.broker.abandon(_path(receipt.queue, receipt.dead_letter), receipt.token)

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        self.broker.dead_letter(_path(receipt.queue, receipt.dead_letter), receipt.token, reason, description)

    async def defer(self, receipt: ReceiptHandle) -> int:
        return self.broker.defer(_path(receipt.queue, receipt.dead_letter), receipt.token)

    async def receive_deferred(self, queue: QueueName, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        found = self.broker.receive_deferred(str(queue), sequence_numbers)
        return [received_from(m, queue, dead_letter=False) for m in found]

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        until = self.broker.renew_lock(_path(receipt.queue, receipt.dead_letter), receipt.token)
        return datetime.fromtimestamp(until, UTC)

    async def peek_messages(
        self, queue: QueueName, max_messages: int, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        found = self.broker.peek(_path(queue, dead_letter), from_sequence or 1, max_messages)
        return [peeked_from(m) for m in found]

    async def schedule_messages(self, queue: QueueName, messages: Sequence[Message], at: datetime) -> list[int]:
        return self.broker.schedule(str(queue), [broker_message_from(m) for m in messages], at.timestamp())

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        self.broker.cancel_scheduled(str(queue), sequence_numbers)

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        path = str(queue)
        if session_id is not None:
            lease = self.broker.accept_session(path, session_id)
        else:
            lease = await self._waiter.wait_for(
                path, lambda: self.broker.accept_session(path, None), timeout.total_seconds()
            )
        if lease is None:
            return None
        return InMemorySession(self, queue, lease)

    async def aclose(self) -> None:
        self._waiter.close()


class InMemorySession(ProviderSettledSession):
    def __init__(self, provider: InMemoryProvider, queue: QueueName, lease: SessionLease) -> None:
        self.capabilities = provider.capabilities
        self.queue = queue
        self._provider = provider
        self._waiter = provider._waiter
        self._broker = provider.broker
        self._lease = lease
        self._locked_until = lease.locked_until

    @property
    def session_id(self) -> SessionId:
        return SessionId.delivered(self._lease.session_id)

    @property
    def locked_until(self) -> datetime | None:
        return datetime.fromtimestamp(self._locked_until, UTC)

    def _args(self) -> tuple[str, str, str]:
        return str(self.queue), self._lease.session_id, self._lease.lock_token

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        path, session_id, token = self._args()
        found = await self._waiter.wait_for(
            path, lambda: self._broker.session_receive(path, session_id, token, max_messages), timeout.total_seconds()
        )
        return [received_from(m, self.queue, dead_letter=False) for m in found or []]

    async def renew_session_lock(self) -> datetime:
        self._locked_until = self._broker.renew_session_lock(*self._args())
        return datetime.fromtimestamp(self._locked_until, UTC)

    async def get_state(self) -> bytes | None:
        return self._broker.get_session_state(*self._args())

    async def set_state(self, state: bytes | None) -> None:
        self._broker.set_session_state(*self._args(), state)

    async def close(self) -> None:
        try:
            self._broker.release_session(*self._args())
        except (SessionLockLostError, QueueNotFoundError):
            pass  # already expired, released, or its queue deleted: nothing is held any more
