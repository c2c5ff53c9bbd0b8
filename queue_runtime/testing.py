"""Test helpers for code that uses queue_runtime.

``FaultInjectingProvider`` wraps any provider and makes chosen operations fail on purpose, so retry, circuit
breaker and timeout handling can be tested without a broken network. It forwards everything else unchanged: it
never forks the wrapped provider's semantics.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ._identifiers import MessageId, QueueName, SessionId, SubscriptionName
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._queues import QueueOptions, QueueProperties
from ._topics import RuleProperties, SubscriptionOptions, SubscriptionProperties, TopicOptions, TopicProperties
from .errors import QueueError
from .ports import ClockControl, FaultControl, JournalControl, QueueProvider, SessionProvider

__all__ = ["FaultInjectingProvider"]

T = TypeVar("T")


class FaultInjectingProvider(QueueProvider):
    """``fail(operation, error, times)`` queues failures; ``delay(operation, seconds)`` adds latency.

    Operations are the port's method names (``send_messages``, ``receive_messages``, ``complete``...).
    ``calls`` counts every call that reached this wrapper, failed or not.
    """

    def __init__(self, inner: QueueProvider) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self._failures: dict[str, deque[QueueError]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self.calls: dict[str, int] = defaultdict(int)

    def fail(self, operation: str, error: QueueError, times: int = 1) -> None:
        for _ in range(times):
            self._failures[operation].append(error)

    def delay(self, operation: str, seconds: float) -> None:
        self._delays[operation] = seconds

    def clear(self) -> None:
        self._failures.clear()
        self._delays.clear()

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        self.calls[operation] += 1
        pause = self._delays.get(operation)
        if pause:
            await asyncio.sleep(pause)
        pending = self._failures.get(operation)
        if pending:
            raise pending.popleft()
        return await call()

    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        return await self._call("create_queue", lambda: self.inner.create_queue(name, options))

    async def delete_queue(self, name: QueueName) -> None:
        await self._call("delete_queue", lambda: self.inner.delete_queue(name))

    async def get_queue(self, name: QueueName) -> QueueProperties:
        return await self._call("get_queue", lambda: self.inner.get_queue(name))

    async def update_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        return await self._call("update_queue", lambda: self.inner.update_queue(name, options))

    async def create_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        return await self._call("create_topic", lambda: self.inner.create_topic(name, options))

    async def update_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        return await self._call("update_topic", lambda: self.inner.update_topic(name, options))

    async def get_topic(self, name: QueueName) -> TopicProperties:
        return await self._call("get_topic", lambda: self.inner.get_topic(name))

    async def list_topics(self) -> list[TopicProperties]:
        return await self._call("list_topics", self.inner.list_topics)

    async def delete_topic(self, name: QueueName) -> None:
        await self._call("delete_topic", lambda: self.inner.delete_topic(name))

    async def create_subscription(
        self, name: SubscriptionName, options: SubscriptionOptions, rule: RuleProperties | None
    ) -> SubscriptionProperties:
        return await self._call("create_subscription", lambda: self.inner.create_subscription(name, options, rule))

    async def update_subscription(self, name: SubscriptionName, options: SubscriptionOptions) -> SubscriptionProperties:
        return await self._call("update_subscription", lambda: self.inner.update_subscription(name, options))

    async def get_subscription(self, name: SubscriptionName) -> SubscriptionProperties:
        return await self._call("get_subscription", lambda: self.inner.get_subscription(name))

    async def list_subscriptions(self, topic: QueueName) -> list[SubscriptionProperties]:
        return await self._call("list_subscriptions", lambda: self.inner.list_subscriptions(topic))

    async def delete_subscription(self, name: SubscriptionName) -> None:
        await self._call("delete_subscription", lambda: self.inner.delete_subscription(name))

    async def create_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        return await self._call("create_rule", lambda: self.inner.create_rule(subscription, rule))

    async def update_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        return await self._call("update_rule", lambda: self.inner.update_rule(subscription, rule))

    async def delete_rule(self, subscription: SubscriptionName, rule_name: str) -> None:
        await self._call("delete_rule", lambda: self.inner.delete_rule(subscription, rule_name))

    async def list_rules(self, subscription: SubscriptionName) -> list[RuleProperties]:
        return await self._call("list_rules", lambda: self.inner.list_rules(subscription))

    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        return await self._call("send_messages", lambda: self.inner.send_messages(queue, messages))

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        return await self._call(
            "receive_messages",
            lambda: self.inner.receive_messages(queue, max_messages, timeout, dead_letter=dead_letter),
        )

    async def complete(self, receipt: ReceiptHandle) -> None:
        await self._call("complete", lambda: self.inner.complete(receipt))

    async def abandon(self, receipt: ReceiptHandle) -> None:
        await self._call("abandon", lambda: self.inner.abandon(receipt))

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        await self._call("dead_letter", lambda: self.inner.dead_letter(receipt, reason, description))

    async def defer(self, receipt: ReceiptHandle) -> int:
        return await self._call("defer", lambda: self.inner.defer(receipt))

    async def receive_deferred(self, queue: QueueName, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        return await self._call("receive_deferred", lambda: self.inner.receive_deferred(queue, sequence_numbers))

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        return await self._call("renew_lock", lambda: self.inner.renew_lock(receipt))

    async def peek_messages(
        self, queue: QueueName, max_messages: int, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        return await self._call(
            "peek_messages",
            lambda: self.inner.peek_messages(queue, max_messages, from_sequence, dead_letter=dead_letter),
        )

    async def schedule_messages(self, queue: QueueName, messages: Sequence[Message], at: datetime) -> list[int]:
        return await self._call("schedule_messages", lambda: self.inner.schedule_messages(queue, messages, at))

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        await self._call("cancel_scheduled", lambda: self.inner.cancel_scheduled(queue, sequence_numbers))

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        return await self._call("accept_session", lambda: self.inner.accept_session(queue, session_id, timeout))

    @property
    def clock(self) -> ClockControl | None:
        return self.inner.clock

    @property
    def faults(self) -> FaultControl | None:
        return self.inner.faults

    @property
    def journal(self) -> JournalControl | None:
        return self.inner.journal

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"FaultInjectingProvider({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
