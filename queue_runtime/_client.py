"""The application-facing clients. They add, around any provider: argument validation, retries with backoff and
jitter for transient errors, a circuit breaker, per-call timeouts, and logs, spans and metrics."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from opentelemetry import metrics, trace

from ._config import QueueConfig
from ._encryption import MessageEncryption, is_envelope
from ._health import HealthReport, check_health
from ._identifiers import MessageId, QueueName, SessionId, SubscriptionName, entity_name
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._queues import QueueOptions, QueueProperties
from ._resilience import CircuitBreaker, backoff_delay
from ._session_keys import SessionKeyStrategy
from ._telemetry import Telemetry
from ._topics import (
    CorrelationFilter,
    FalseFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
    TrueFilter,
)
from .errors import (
    CircuitOpenError,
    EncryptionError,
    OperationTimeoutError,
    QueueError,
    UnsupportedOperationError,
    ValidationError,
)
from .ports import Capabilities, ClockControl, FaultControl, QueueProvider, SessionProvider

__all__ = ["QueueClient", "QueueClientFactory", "SessionClient"]

T = TypeVar("T")
PeekedT = TypeVar("PeekedT", bound=PeekedMessage)
logger = logging.getLogger("queue_runtime.client")
ENCRYPTION_ERROR_ATTRIBUTE = "queue_runtime.encryption_error"
Receipt = ReceiptHandle | ReceivedMessage
Sleep = Callable[[float], Awaitable[None]]


def _receipt(value: Receipt) -> ReceiptHandle:
    if isinstance(value, ReceivedMessage):
        return value.receipt_handle
    if isinstance(value, ReceiptHandle):
        return value
    raise ValidationError("receipt", f"must be a ReceiptHandle or ReceivedMessage, got {type(value).__name__}")


def _timeout(value: timedelta | float | None, default: timedelta) -> timedelta:
    if value is None:
        return default
    if isinstance(value, int | float):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError("timeout", "must be a non-negative timedelta or number of seconds")
    return value


def _rule(
    rule: RuleProperties | str,
    filter: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter | None,
    action: SqlRuleAction | None,
) -> RuleProperties:
    if isinstance(rule, RuleProperties):
        if filter is not None or action is not None:
            raise ValidationError("rule", "give either a RuleProperties or a name with filter and action, not both")
        return rule
    if not isinstance(rule, str) or not rule:
        raise ValidationError("rule", "must be a RuleProperties or a non-empty rule name")
    return RuleProperties(name=rule, filter=filter or TrueFilter(), action=action)


def _count(value: int, name: str = "max_messages") -> int:
    if not isinstance(value, int) or value < 1:
        raise ValidationError(name, f"must be a positive integer, got {value!r}")
    return value


class _Runner:
    """Runs one provider call with the breaker, the timeout, the retry loop and telemetry around it."""

    def __init__(
        self,
        config: QueueConfig,
        telemetry: Telemetry,
        breaker: CircuitBreaker,
        sleep: Sleep,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.telemetry = telemetry
        self.breaker = breaker
        self.sleep = sleep
        self.rng = rng

    async def run(
        self,
        operation: str,
        queue: str | None,
        call: Callable[[], Awaitable[T]],
        *,
        wait: timedelta = timedelta(0),
        attributes: dict[str, Any] | None = None,
        on_result: Callable[[T, dict[str, Any]], None] | None = None,
    ) -> T:
        policy = self.config.retry
        limit = (wait + self.config.default_timeout).total_seconds()
        with self.telemetry.operation(operation, queue, **(attributes or {})) as record:
            attempt = 0
            while True:
                attempt += 1
                record.attempts = attempt
                trial = self.breaker.before_call(operation)
                try:
                    async with asyncio.timeout(limit):
                        result = await call()
                except TimeoutError as exc:
                    error: QueueError = OperationTimeoutError(
                        f"'{operation}' on queue '{queue}' did not finish within {limit:.1f}s",
                        details={"operation": operation, "queue": queue},
                    )
                    error.__cause__ = exc
                except CircuitOpenError:
                    if trial:
                        self.breaker.release_trial()
                    raise
                except QueueError as exc:
                    error = exc
                except BaseException:
                    # A cancellation or a foreign exception says nothing about the service: a half-open trial that
                    # ends this way hands its slot back, or the breaker would stay half-open (and refuse) forever.
                    if trial:
                        self.breaker.release_trial()
                    raise
                else:
                    self.breaker.record_success()
                    if on_result is not None:
                        on_result(result, record.attributes)
                    return result
                if error.transient:
                    self.breaker.record_failure()
                elif trial:
                    self.breaker.release_trial()
                # An open breaker ends the retries too: the caller sees the real error, not CircuitOpenError.
                if not error.transient or attempt >= policy.max_attempts or self.breaker.is_open:
                    raise error
                delay = backoff_delay(policy, attempt, self.rng)
                if error.retry_after is not None:
                    delay = max(delay, error.retry_after)
                self.telemetry.retried(operation, error, attempt, delay, queue)
                await self.sleep(delay)


class QueueClient:
    """Send, receive and settle messages on any provider. Use as ``async with``; closing closes the provider."""

    def __init__(
        self,
        provider: QueueProvider,
        config: QueueConfig | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        session_keys: SessionKeyStrategy | None = None,
        encryption: MessageEncryption | None = None,
    ) -> None:
        self.config = config or QueueConfig()
        if encryption is not None and not isinstance(encryption, MessageEncryption):
            raise ValidationError("encryption", "must be a MessageEncryption or None")
        self.encryption = encryption
        """Body encryption on send and decryption on receive (see docs/encryption.md); None: plaintext."""
        if session_keys is not None and not isinstance(session_keys, SessionKeyStrategy):
            raise ValidationError("session_keys", "must be a SessionKeyStrategy or None")
        self.session_keys = session_keys
        """How sent messages without a ``session_id`` get one (see ``queue_runtime.SingleFieldStrategy``...)."""
        self.provider = provider
        telemetry = Telemetry(
            provider.capabilities.provider, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        breaker = (
            CircuitBreaker(self.config.circuit_breaker, monotonic)
            if monotonic
            else CircuitBreaker(self.config.circuit_breaker)
        )
        self._runner = _Runner(self.config, telemetry, breaker, sleep, rng or random.Random())
        self._sessions: set[SessionClient] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"QueueClient(provider={self.provider.capabilities.provider!r})"

    # -- what the provider can do
    @property
    def capabilities(self) -> Capabilities:
        return self.provider.capabilities

    @property
    def circuit_breaker(self) -> CircuitBreaker:
        return self._runner.breaker

    @property
    def clock(self) -> ClockControl:
        """Virtual time, where the provider has it (``capabilities.clock_control``)."""
        clock = self.provider.clock
        if clock is None:
            raise UnsupportedOperationError(
                f"provider '{self.capabilities.provider}' has no controllable clock "
                "(use InMemoryConfig(clock='manual') or an emulator started with --clock=manual)"
            )
        return clock

    @property
    def faults(self) -> FaultControl:
        faults = self.provider.faults
        if faults is None:
            raise UnsupportedOperationError(f"provider '{self.capabilities.provider}' has no fault injection")
        return faults

    def _run(self, operation: str, queue: str | None, call: Callable[[], Awaitable[T]], **kw: Any) -> Awaitable[T]:
        if self._closed:
            raise QueueError("this QueueClient is closed")
        return self._runner.run(operation, queue, call, **kw)

    # -- provisioning
    async def create_queue(self, queue: str, options: QueueOptions | None = None, **settings: Any) -> QueueProperties:
        """Create a queue. Settings may be given as ``QueueOptions`` or as keywords (``requires_session=True``)."""
        name = QueueName(queue)
        opts = options or QueueOptions.model_validate(settings)
        if opts.requires_session and not self.capabilities.supports("sessions"):
            raise UnsupportedOperationError(f"provider '{self.capabilities.provider}' has no sessions")
        return await self._run("create_queue", name, lambda: self.provider.create_queue(name, opts))

    async def delete_queue(self, queue: str) -> None:
        name = QueueName(queue)
        await self._run("delete_queue", name, lambda: self.provider.delete_queue(name))

    async def update_queue(self, queue: str, options: QueueOptions | None = None, **changes: Any) -> QueueProperties:
        """Change a queue's settings: a whole ``QueueOptions``, or keywords changing only those fields of the
        current ones (``update_queue("in", forward_to="orders")``)."""
        name = QueueName(queue)
        if options is None:
            current = await self.get_queue(name)
            options = QueueOptions.model_validate({**current.options.model_dump(), **changes})
        opts = options
        return await self._run("update_queue", name, lambda: self.provider.update_queue(name, opts))

    async def get_queue(self, queue: str) -> QueueProperties:
        name = QueueName(queue)
        return await self._run("get_queue", name, lambda: self.provider.get_queue(name))

    # -- publish/subscribe (capability ``topics``): publish with send_message(s) to the topic's name, receive,
    # settle, peek and accept sessions with the usual methods on a SubscriptionName("topic", "subscription").
    def _topics(self) -> None:
        if not self.capabilities.topics:
            raise UnsupportedOperationError(
                f"provider '{self.capabilities.provider}' has no topics",
                details={"provider": self.capabilities.provider, "operation": "topics"},
            )

    async def create_topic(self, topic: str, options: TopicOptions | None = None, **settings: Any) -> TopicProperties:
        """Create a topic. Settings as ``TopicOptions`` or keywords (``duplicate_detection_window=...``)."""
        self._topics()
        name = QueueName(topic)
        opts = options or TopicOptions.model_validate(settings)
        return await self._run("create_topic", name, lambda: self.provider.create_topic(name, opts))

    async def update_topic(self, topic: str, options: TopicOptions) -> TopicProperties:
        self._topics()
        name = QueueName(topic)
        return await self._run("update_topic", name, lambda: self.provider.update_topic(name, options))

    async def get_topic(self, topic: str) -> TopicProperties:
        self._topics()
        name = QueueName(topic)
        return await self._run("get_topic", name, lambda: self.provider.get_topic(name))

    async def list_topics(self) -> list[TopicProperties]:
        self._topics()
        return await self._run("list_topics", None, self.provider.list_topics)

    async def delete_topic(self, topic: str) -> None:
        """Delete a topic with its subscriptions and their messages."""
        self._topics()
        name = QueueName(topic)
        await self._run("delete_topic", name, lambda: self.provider.delete_topic(name))

    async def create_subscription(
        self,
        subscription: SubscriptionName | str,
        options: SubscriptionOptions | None = None,
        *,
        rule: RuleProperties | None = None,
        **settings: Any,
    ) -> SubscriptionProperties:
        """Create a subscription; it gets ``rule``, or else the ``$Default`` rule that lets every message in."""
        self._topics()
        name = SubscriptionName(subscription)
        opts = options or SubscriptionOptions.model_validate(settings)
        if opts.requires_session and not self.capabilities.supports("sessions"):
            raise UnsupportedOperationError(f"provider '{self.capabilities.provider}' has no sessions")
        return await self._run(
            "create_subscription", name, lambda: self.provider.create_subscription(name, opts, rule)
        )

    async def update_subscription(
        self, subscription: SubscriptionName | str, options: SubscriptionOptions
    ) -> SubscriptionProperties:
        self._topics()
        name = SubscriptionName(subscription)
        return await self._run("update_subscription", name, lambda: self.provider.update_subscription(name, options))

    async def get_subscription(self, subscription: SubscriptionName | str) -> SubscriptionProperties:
        self._topics()
        name = SubscriptionName(subscription)
        return await self._run("get_subscription", name, lambda: self.provider.get_subscription(name))

    async def list_subscriptions(self, topic: str) -> list[SubscriptionProperties]:
        self._topics()
        name = QueueName(topic)
        return await self._run("list_subscriptions", name, lambda: self.provider.list_subscriptions(name))

    async def delete_subscription(self, subscription: SubscriptionName | str) -> None:
        self._topics()
        name = SubscriptionName(subscription)
        await self._run("delete_subscription", name, lambda: self.provider.delete_subscription(name))

    async def create_rule(
        self,
        subscription: SubscriptionName | str,
        rule: RuleProperties | str,
        filter: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter | None = None,
        action: SqlRuleAction | None = None,
    ) -> RuleProperties:
        """Add a rule: a ``RuleProperties``, or a name with a filter (default: true) and an optional action."""
        self._topics()
        name = SubscriptionName(subscription)
        spec = _rule(rule, filter, action)
        return await self._run("create_rule", name, lambda: self.provider.create_rule(name, spec))

    async def update_rule(
        self,
        subscription: SubscriptionName | str,
        rule: RuleProperties | str,
        filter: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter | None = None,
        action: SqlRuleAction | None = None,
    ) -> RuleProperties:
        """Replace an existing rule's filter and action."""
        self._topics()
        name = SubscriptionName(subscription)
        spec = _rule(rule, filter, action)
        return await self._run("update_rule", name, lambda: self.provider.update_rule(name, spec))

    async def delete_rule(self, subscription: SubscriptionName | str, rule_name: str) -> None:
        self._topics()
        name = SubscriptionName(subscription)
        await self._run("delete_rule", name, lambda: self.provider.delete_rule(name, rule_name))

    async def list_rules(self, subscription: SubscriptionName | str) -> list[RuleProperties]:
        self._topics()
        name = SubscriptionName(subscription)
        return await self._run("list_rules", name, lambda: self.provider.list_rules(name))

    # -- sending
    async def send_message(
        self, queue: str, message: Message, *, session_keys: SessionKeyStrategy | None = None
    ) -> MessageId:
        return (await self.send_messages(queue, [message], session_keys=session_keys))[0]

    async def send_messages(
        self, queue: str, messages: Sequence[Message], *, session_keys: SessionKeyStrategy | None = None
    ) -> list[MessageId]:
        """Send in batches of at most ``capabilities.max_batch_size``; each batch is all or nothing.

        A message without a ``session_id`` gets one from ``session_keys`` (or the client's ``session_keys``)
        when that strategy finds its fields; an explicit ``session_id`` always wins.
        """
        name = entity_name(queue)
        items = [self._prepare(item, session_keys) for item in messages]
        size = self.capabilities.max_batch_size
        ids: list[MessageId] = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            ids.extend(
                await self._run(
                    "send",
                    name,
                    lambda chunk=chunk: self.provider.send_messages(name, chunk),  # type: ignore[misc]
                    attributes={"messaging.batch.message_count": len(chunk)},
                    on_result=lambda result, attrs: attrs.__setitem__("messaging.message.id", list(result)),
                )
            )
        return ids

    def _prepare(self, message: Message, session_keys: SessionKeyStrategy | None) -> Message:
        if not isinstance(message, Message):
            raise ValidationError("messages", f"expected Message, got {type(message).__name__}")
        strategy = session_keys or self.session_keys
        if strategy is not None:
            message = strategy.apply(message)
        if self.encryption is not None:
            message = self.encryption.seal(message)
            self._runner.telemetry.encryption("seal", encrypted=True)
        self._check_size(message)
        return message

    # -- decryption: one bad message never blocks the others and is never lost
    async def _open_received(
        self, messages: list[ReceivedMessage], settle: QueueClient | SessionClient, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        """Decrypt received messages. One that cannot be read is dead-lettered (reason: the error's code) or,
        without dead-letter queues, abandoned, and left out; from a dead-letter queue it is returned as it is,
        marked with the ``queue_runtime.encryption_error`` attribute."""
        if self.encryption is None:
            return messages
        opened: list[ReceivedMessage] = []
        for message in messages:
            try:
                opened.append(self.encryption.open(message, check_replay=not dead_letter))
                self._counted_open(message)
            except EncryptionError as exc:
                self._counted_open(message, exc)
                if dead_letter:
                    opened.append(_marked(message, exc))
                else:
                    await self._set_aside(message, exc, settle)
        return opened

    def _open_peeked(self, messages: list[PeekedT]) -> list[PeekedT]:
        if self.encryption is None:
            return messages
        opened: list[PeekedT] = []
        for message in messages:
            try:
                opened.append(self.encryption.open(message))
                self._counted_open(message)
            except EncryptionError as exc:
                self._counted_open(message, exc)
                opened.append(_marked(message, exc))
        return opened

    def _counted_open(self, message: PeekedMessage, error: EncryptionError | None = None) -> None:
        self._runner.telemetry.encryption(
            "open", encrypted=is_envelope(message.body), outcome="ok" if error is None else error.code
        )

    async def _set_aside(
        self, message: ReceivedMessage, error: EncryptionError, settle: QueueClient | SessionClient
    ) -> None:
        logger.warning(
            "message %s cannot be decrypted (%s); %s",
            message.message_id,
            error.code,
            "dead-lettering it" if self.capabilities.dead_letter else "abandoning it",
            extra={"message_id": str(message.message_id), "error_code": error.code,
                   "key_id": error.details.get("key_id")},
        )
        try:
            if self.capabilities.dead_letter:
                await settle.dead_letter_message(message, error.code, f"[{type(error).__name__}] {error.message}")
            else:
                await settle.abandon_message(message)
        except QueueError as exc:
            logger.warning("could not set message %s aside: %s", message.message_id, exc.code)

    def _check_size(self, message: Message) -> None:
        from .errors import MessageTooLargeError

        size = len(message.body) + sum(len(k.encode()) + len(v.encode()) for k, v in message.attributes.items())
        if size > self.capabilities.max_message_size:
            raise MessageTooLargeError(size, self.capabilities.max_message_size)

    async def schedule_message(
        self, queue: str, message: Message, at: datetime, *, session_keys: SessionKeyStrategy | None = None
    ) -> int:
        """Send ``message`` so that it appears at ``at``; returns the sequence number to cancel it with."""
        name = entity_name(queue)
        if at.tzinfo is None:
            raise ValidationError("at", "must be a timezone-aware datetime")
        message = self._prepare(message, session_keys)
        result = await self._run("schedule", name, lambda: self.provider.schedule_messages(name, [message], at))
        return result[0]

    async def cancel_scheduled_message(self, queue: str, sequence_number: int) -> None:
        name = entity_name(queue)
        await self._run("cancel_scheduled", name, lambda: self.provider.cancel_scheduled(name, [sequence_number]))

    # -- receiving
    async def receive_message(
        self, queue: str, timeout: timedelta | float | None = None
    ) -> ReceivedMessage | None:
        found = await self.receive_messages(queue, 1, timeout)
        return found[0] if found else None

    async def receive_messages(
        self, queue: str, max_messages: int = 1, timeout: timedelta | float | None = None
    ) -> list[ReceivedMessage]:
        """Wait up to ``timeout`` (default 30 s) and return as soon as at least one message is there."""
        return await self._receive(queue, max_messages, timeout, dead_letter=False)

    async def receive_dead_letter_messages(
        self, queue: str, max_messages: int = 1, timeout: timedelta | float | None = None
    ) -> list[ReceivedMessage]:
        """Receive (peek-lock) from ``queue``'s dead-letter queue. Completing removes them for good."""
        return await self._receive(queue, max_messages, timeout, dead_letter=True)

    async def _receive(
        self, queue: str, max_messages: int, timeout: timedelta | float | None, *, dead_letter: bool
    ) -> list[ReceivedMessage]:
        name = entity_name(queue)
        count = min(_count(max_messages), self.capabilities.max_batch_size)
        wait = _timeout(timeout, timedelta(seconds=30))
        if dead_letter and not self.capabilities.dead_letter:
            raise UnsupportedOperationError(f"provider '{self.capabilities.provider}' has no dead-letter queues")
        found = await self._run(
            "receive",
            name,
            lambda: self.provider.receive_messages(name, count, wait, dead_letter=dead_letter),
            wait=wait,
            attributes={"messaging.batch.max_message_count": count, "queue_runtime.dead_letter": dead_letter},
            on_result=_record_received,
        )
        return await self._open_received(found, self, dead_letter=dead_letter)

    async def peek_messages(
        self, queue: str, max_messages: int = 1, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        name = entity_name(queue)
        count = _count(max_messages)
        found = await self._run(
            "peek", name, lambda: self.provider.peek_messages(name, count, from_sequence, dead_letter=dead_letter)
        )
        return self._open_peeked(found)

    async def receive_deferred_messages(self, queue: str, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        name = entity_name(queue)
        seqs = list(sequence_numbers)
        found = await self._run("receive_deferred", name, lambda: self.provider.receive_deferred(name, seqs))
        return await self._open_received(found, self)

    # -- settling
    async def complete_message(self, receipt: Receipt) -> None:
        handle = _receipt(receipt)
        await self._run("complete", handle.queue, lambda: self.provider.complete(handle))

    async def complete_messages(self, receipts: Sequence[Receipt]) -> list[QueueError | None]:
        """Complete many messages in as few calls as the provider allows (batches of ``max_batch_size``).

        Returns one entry per receipt: ``None`` when completed, else the ``QueueError`` for that message (a lost
        lock, typically); one failure never hides the others.
        """
        handles = [_receipt(r) for r in receipts]
        results: list[QueueError | None] = []
        size = self.capabilities.max_batch_size
        for start in range(0, len(handles), size):
            chunk = handles[start : start + size]
            results.extend(
                await self._run(
                    "complete",
                    chunk[0].queue,
                    lambda chunk=chunk: self.provider.complete_messages(chunk),  # type: ignore[misc]
                    attributes={"messaging.batch.message_count": len(chunk)},
                )
            )
        return results

    async def abandon_message(self, receipt: Receipt) -> None:
        handle = _receipt(receipt)
        await self._run("abandon", handle.queue, lambda: self.provider.abandon(handle))

    async def dead_letter_message(self, receipt: Receipt, reason: str, description: str | None = None) -> None:
        handle = _receipt(receipt)
        if not isinstance(reason, str) or not reason:
            raise ValidationError("reason", "must be a non-empty string")
        await self._run(
            "dead_letter",
            handle.queue,
            lambda: self.provider.dead_letter(handle, reason, description),
            attributes={"queue_runtime.dead_letter_reason": reason},
        )

    async def defer_message(self, receipt: Receipt) -> int:
        """Set a message aside; returns the sequence number that ``receive_deferred_messages`` takes."""
        handle = _receipt(receipt)
        return await self._run("defer", handle.queue, lambda: self.provider.defer(handle))

    async def renew_message_lock(self, receipt: Receipt) -> datetime:
        handle = _receipt(receipt)
        return await self._run("renew_lock", handle.queue, lambda: self.provider.renew_lock(handle))

    # -- sessions
    async def accept_session(
        self, queue: str, session_id: str | None = None, timeout: timedelta | float | None = None
    ) -> SessionClient:
        """Lock ``session_id``, or (``None``) the next session that has messages, waiting up to ``timeout``.

        Raises ``OperationTimeoutError`` if no session became available (see :meth:`try_accept_session`).
        """
        session = await self.try_accept_session(queue, session_id, timeout)
        if session is None:
            raise OperationTimeoutError(
                f"no session of queue '{queue}' became available within the timeout",
                transient=False,
                details={"queue": queue},
            )
        return session

    async def try_accept_session(
        self, queue: str, session_id: str | None = None, timeout: timedelta | float | None = None
    ) -> SessionClient | None:
        """Like :meth:`accept_session`, but returns None when no session became available in time."""
        name = entity_name(queue)
        # Naming a session is not sending: the id may come from a message another client sent (a space, a non-ASCII
        # letter), so take any id the broker could have delivered.
        sid = SessionId.delivered(session_id) if session_id is not None else None
        if not self.capabilities.supports("sessions"):
            raise UnsupportedOperationError(f"provider '{self.capabilities.provider}' has no sessions")
        if sid is not None and not self.capabilities.session_accept_specific:
            raise UnsupportedOperationError(
                f"provider '{self.capabilities.provider}' cannot lock a named session; "
                "accept the next available session instead (session_id=None)"
            )
        wait = _timeout(timeout, timedelta(seconds=30))
        provider_session = await self._run(
            "accept_session",
            name,
            lambda: self.provider.accept_session(name, sid, wait),
            wait=wait,
            attributes={"queue_runtime.session_id": sid},
        )
        if provider_session is None:
            return None
        session = SessionClient(self, provider_session)
        self._sessions.add(session)
        return session

    # -- health
    async def health(self, queue: str | None = None, timeout: timedelta | float = timedelta(seconds=5)) -> HealthReport:
        """Probe the provider once: reachable or not, the round-trip latency, the circuit breaker's state, and
        (with ``queue``) whether that queue exists. Never raises for an unhealthy provider: the report says so.
        No retries, and the probe does not count towards the circuit breaker."""
        return await check_health(self, queue, timeout)

    # -- lifecycle
    async def aclose(self) -> None:
        if self._closed:
            return
        for session in list(self._sessions):
            await session.close()
        self._closed = True
        await self.provider.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _marked(message: PeekedT, error: EncryptionError) -> PeekedT:
    return replace(message, attributes={**message.attributes, ENCRYPTION_ERROR_ATTRIBUTE: error.code})


def _record_received(result: list[ReceivedMessage], attributes: dict[str, Any]) -> None:
    attributes["messaging.batch.message_count"] = len(result)
    if result:
        attributes["messaging.message.id"] = [m.message_id for m in result]
        attributes["queue_runtime.delivery_count"] = [m.delivery_count for m in result]


class SessionClient:
    """A locked session: messages arrive in order and no other receiver gets them while the lock is held."""

    def __init__(self, client: QueueClient, session: SessionProvider) -> None:
        self._client = client
        self._session = session
        self._closed = False

    def __repr__(self) -> str:
        return f"SessionClient(queue={self.queue!r}, session_id={self.session_id!r})"

    @property
    def session_id(self) -> SessionId:
        return self._session.session_id

    @property
    def queue(self) -> QueueName:
        return self._session.queue

    @property
    def session_expires_at(self) -> datetime | None:
        """When the session lock runs out unless renewed."""
        return self._session.locked_until

    def _run(self, operation: str, call: Callable[[], Awaitable[T]], **kw: Any) -> Awaitable[T]:
        attributes = {"queue_runtime.session_id": str(self.session_id), **kw.pop("attributes", {})}
        return self._client._run(f"session.{operation}", self.queue, call, attributes=attributes, **kw)

    async def receive_message(self, timeout: timedelta | float | None = None) -> ReceivedMessage | None:
        found = await self.receive_messages(1, timeout)
        return found[0] if found else None

    async def receive_messages(
        self, max_messages: int = 1, timeout: timedelta | float | None = None
    ) -> list[ReceivedMessage]:
        count = min(_count(max_messages), self._client.capabilities.max_batch_size)
        wait = _timeout(timeout, timedelta(seconds=30))
        found = await self._run(
            "receive", lambda: self._session.receive_messages(count, wait), wait=wait, on_result=_record_received
        )
        return await self._client._open_received(found, self)

    async def complete_message(self, receipt: Receipt) -> None:
        handle = _receipt(receipt)
        await self._run("complete", lambda: self._session.complete(handle))

    async def abandon_message(self, receipt: Receipt) -> None:
        handle = _receipt(receipt)
        await self._run("abandon", lambda: self._session.abandon(handle))

    async def dead_letter_message(self, receipt: Receipt, reason: str, description: str | None = None) -> None:
        handle = _receipt(receipt)
        if not isinstance(reason, str) or not reason:
            raise ValidationError("reason", "must be a non-empty string")
        await self._run("dead_letter", lambda: self._session.dead_letter(handle, reason, description))

    async def defer_message(self, receipt: Receipt) -> int:
        handle = _receipt(receipt)
        return await self._run("defer", lambda: self._session.defer(handle))

    async def renew_session_lock(self) -> datetime:
        return await self._run("renew_lock", self._session.renew_session_lock)

    async def get_session_state(self) -> bytes | None:
        return await self._run("get_state", self._session.get_state)

    async def set_session_state(self, state: bytes | str | None) -> None:
        value = state.encode() if isinstance(state, str) else state
        await self._run("set_state", lambda: self._session.set_state(value))

    async def close(self) -> None:
        """Release the session lock. Unsettled messages become receivable again. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._client._sessions.discard(self)
        await self._run("close", self._session.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class QueueClientFactory:
    """Builds a ``QueueClient`` for a config (the seed's entry point)."""

    @staticmethod
    async def create_client(config: QueueConfig | str | None = None, **client_options: Any) -> QueueClient:
        """``config`` may be a ``QueueConfig``, a URL such as ``memory://`` or ``emulator://127.0.0.1:8080``,
        or None for the in-memory provider."""
        from .providers import create_provider

        if config is None:
            config = QueueConfig()
        elif isinstance(config, str):
            config = QueueConfig.from_url(config)
        provider = await create_provider(config.provider)
        return QueueClient(provider, config, **client_options)

    @staticmethod
    async def create_test_client() -> QueueClient:
        """An in-memory client with a manual clock, for tests."""
        from ._config import InMemoryConfig

        return await QueueClientFactory.create_client(QueueConfig(provider=InMemoryConfig(clock="manual")))

