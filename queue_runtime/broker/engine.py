"""The broker engine: every queue of one emulator or in-memory provider, behind one method per operation.

Pure and synchronous: no I/O and no asyncio. Each call first applies what became due on the clock (lost locks,
scheduled messages, TTLs) for the entity it touches, so a late settle always sees the lock as lost and the message
back in its queue. Fronts and providers wait for messages through :mod:`queue_runtime.broker.waiting`, which
listens to :meth:`Broker.add_listener`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._queues import QueueOptions, QueueProperties
from .._topics import (
    DEFAULT_RULE_NAME,
    RuleProperties,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
    TrueFilter,
)
from ..errors import (
    BatchTooLargeError,
    MessageNotFoundError,
    MessageTooLargeError,
    QueueAlreadyExistsError,
    QueueError,
    QueueNotFoundError,
    QuotaExceededError,
    RuleAlreadyExistsError,
    RuleNotFoundError,
    SubscriptionAlreadyExistsError,
    SubscriptionNotFoundError,
    TopicAlreadyExistsError,
    TopicNotFoundError,
    UnsupportedOperationError,
    ValidationError,
)
from .clock import Clock, SystemClock
from .entity import DEAD_LETTER_SUFFIX, Forwarder, QueueEntity
from .journal import Journal, JournalKind
from .naming import check_queue_name
from .records import BrokerMessage, MessageState, SessionLease, SessionSnapshot, check_portable, message_size
from .rules import CompiledRule, compile_rule
from .topics import SubscriptionEntity, TopicEntity

if TYPE_CHECKING:
    from .durable import Changes

__all__ = ["HOP_LIMIT_REASON", "Broker", "BrokerLimits", "IdleReport", "dead_letter_path", "subscription_path"]

HOP_LIMIT_REASON = "MaxTransferHopCountExceeded"
FORWARD_FAILED_REASON = "ForwardingFailed"
SUBSCRIPTIONS_SEGMENT = "/Subscriptions/"
_SUBSCRIPTION_PATH = re.compile(r"^(?P<topic>.+?)/subscriptions/(?P<sub>[^/]+)(?P<dlq>/\$deadletterqueue)?$", re.I)
_MAX_SUBSCRIPTION_NAME = 50
_MAX_RULE_NAME = 50


def dead_letter_path(queue: str) -> str:
    return queue + DEAD_LETTER_SUFFIX


def subscription_path(topic: str, subscription: str) -> str:
    return f"{topic}{SUBSCRIPTIONS_SEGMENT}{subscription}"


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """Limits are settings, not constants: a parallel test suite needs many queues."""

    max_message_size: int = 1024 * 1024
    max_queues: int = 100_000
    # Messages per send, and the most one receive or peek returns (a larger request gets this many).
    max_batch_messages: int = 1000
    # Publish/subscribe, at least Service Bus Standard's.
    max_topics: int = 100_000
    max_subscriptions_per_topic: int = 2000
    max_sql_filters_per_topic: int = 2000
    max_correlation_filters_per_topic: int = 100_000
    max_rules_per_subscription: int = 2000
    # Auto-forwarding transfers one message may make; the next would dead-letter it (Service Bus: 4 hops).
    max_forward_hops: int = 4


@dataclass(frozen=True, slots=True)
class IdleReport:
    """The answer of an idleness check or wait: ``busy`` maps each entity that is not idle to why not."""

    idle: bool
    busy: dict[str, list[str]]
    waited: float = 0.0

    def describe(self) -> str:
        if self.idle:
            return "idle"
        return "; ".join(f"{path}: {', '.join(reasons)}" for path, reasons in self.busy.items())


class Broker:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        limits: BrokerLimits | None = None,
        auto_create: bool = False,
        auto_create_options: QueueOptions | None = None,
        journal: Journal | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        # What the current operation changed, for a data directory (see durable.py); None keeps nothing.
        self._changes = changes
        self.limits = limits or BrokerLimits()
        self.auto_create = auto_create
        self.auto_create_options = auto_create_options or QueueOptions()
        self._queues: dict[str, QueueEntity] = {}
        self._topics: dict[str, TopicEntity] = {}
        self._listeners: list[Callable[[str], None]] = []
        self.journal = journal if journal is not None else Journal()

    # ------------------------------------------------------------------ listeners

    def add_listener(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """``listener(path)`` is called whenever messages may have become receivable on ``path``."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _notify(self, path: str) -> None:
        for listener in list(self._listeners):
            listener(path)

    # ------------------------------------------------------------------ entities

    def create_queue(self, name: str, options: QueueOptions | None = None) -> QueueProperties:
        check_queue_name(name)  # the one naming rule of every front (REST, AMQP auto-create, entity file)
        if name in self._queues or name in self._topics:
            raise QueueAlreadyExistsError(name)
        if len(self._queues) >= self.limits.max_queues:
            raise QuotaExceededError(
                f"cannot create queue '{name}': the limit of {self.limits.max_queues} queues is reached",
                details={"max_queues": self.limits.max_queues},
            )
        options = options or QueueOptions()
        self._check_forwarding(name, options.forward_to, options.forward_dead_lettered_messages_to)
        now = self.clock.now()
        entity = self._new_entity(name, options, now)
        self._queues[name] = entity
        self._defined(name)
        return self.get_queue(name)

    def update_queue(self, name: str, options: QueueOptions) -> QueueProperties:
        """Change a queue's settings (not ``requires_session``, which Service Bus fixes at creation)."""
        entity = self._queue(name)
        if options.requires_session != entity.options.requires_session:
            raise ValidationError("requires_session", "cannot be changed after the queue is created")
        self._check_forwarding(name, options.forward_to, options.forward_dead_lettered_messages_to)
        self._apply_options(entity, options)
        self._defined(name)
        return self.get_queue(name)

    def _new_entity(self, name: str, options: QueueOptions, now: float) -> QueueEntity:
        dead_letter = QueueEntity(dead_letter_path(name), QueueOptions(lock_duration=options.lock_duration),
                                  now, notify=self._notify, journal=self.journal, changes=self._changes)
        entity = QueueEntity(name, options, now, notify=self._notify, dead_letter=dead_letter,
                             journal=self.journal, changes=self._changes)
        self._install_forwarding(entity, options)
        return entity

    def _apply_options(self, entity: QueueEntity, options: QueueOptions) -> None:
        entity.options = options
        entity._lock_seconds = options.lock_duration.total_seconds()
        self._install_forwarding(entity, options)

    def delete_queue(self, name: str) -> None:
        if self._queues.pop(name, None) is None:
            if name in self._topics:
                raise QueueNotFoundError(name, details={"hint": f"'{name}' is a topic: delete it as a topic"})
            raise QueueNotFoundError(name)
        self._defined(name)
        self._notify(name)
        self._notify(dead_letter_path(name))

    def queue_names(self) -> list[str]:
        return sorted(self._queues)

    def get_queue(self, name: str) -> QueueProperties:
        entity = self._queue(name)
        now = self.clock.now()
        entity.tick(now)
        assert entity.dead_letter is not None
        entity.dead_letter.tick(now)
        counts = entity.counts
        return QueueProperties(
            name=name,
            options=entity.options,
            created_at=datetime.fromtimestamp(entity.created_at, UTC),
            active_count=counts[MessageState.AVAILABLE],
            locked_count=counts[MessageState.LOCKED],
            scheduled_count=counts[MessageState.SCHEDULED],
            deferred_count=counts[MessageState.DEFERRED],
            dead_letter_count=sum(entity.dead_letter.counts.values()),
            size_bytes=entity.size_bytes,
            session_count=len(entity.sessions()) if entity.options.requires_session else 0,
        )

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def reset(self) -> None:
        """Forget every queue and message (fast per-test isolation)."""
        names = list(self._queues)
        for topic in self._topics.values():
            names.extend(sub.path for sub in topic.subscriptions.values())
        self._queues.clear()
        self.journal.clear()
        self._topics.clear()
        if self._changes is not None:
            self._changes.wiped()
        for name in names:
            self._notify(name)
            self._notify(dead_letter_path(name))

    def purge(self, path: str) -> int:
        return self._entity(path).purge(self.clock.now())

    def delete_message(self, path: str, sequence_number: int) -> None:
        """Remove one message nobody holds (active, scheduled, deferred or dead-lettered), by hand."""
        self._entity(path).delete(sequence_number, self.clock.now())

    def resubmit_dead_letters(self, queue: str, sequence_numbers: Iterable[int] | None = None) -> list[int]:
        """Move dead letters (the named ones, or all that are not locked) back to ``queue`` as fresh messages:
        delivery count zero, dead-letter reason gone. All or none: the queue's limits are checked first."""
        source = self._entity(queue)
        if source.is_dead_letter:
            raise ValidationError("queue", f"{queue!r} is a dead-letter queue; name the queue its messages came from")
        dead_letters = self._entity(dead_letter_path(queue))
        chosen = dead_letters.unlocked(list(sequence_numbers) if sequence_numbers is not None else None)
        fresh = [_resubmitted(m) for m in chosen]
        now = self.clock.now()
        source.check_send(fresh, self.limits.max_message_size, now)
        # Stored first, then removed from the dead-letter queue (never lost in between). The queue's duplicate
        # detection does not apply: the original id is likely still in its window, and a resubmit is on purpose.
        new_seqs = [source.add(m, now, JournalKind.RESUBMITTED, deduplicate=False) for m in fresh]
        dead_letters.remove(chosen)
        self._notify(source.name)
        return new_seqs

    # ------------------------------------------------------------------ idleness

    def idle_report(self, paths: Iterable[str], grace: float = 0.0) -> IdleReport:
        """Is each entity idle (nothing receivable, locked, or scheduled within ``grace`` seconds)? A missing
        entity counts as idle. A queue's dead-letter queue is only checked when named."""
        busy: dict[str, list[str]] = {}
        now = self.clock.now()
        for path in paths:
            try:
                entity = self._entity(path, create=False)  # asking about a queue never creates it
            except QueueNotFoundError:
                continue
            reasons = entity.busy(now, grace)
            if reasons:
                busy[path] = reasons
        return IdleReport(idle=not busy, busy=busy)

    def _queue(self, name: str, *, create: bool = True) -> QueueEntity:
        entity = self._queues.get(name)
        if entity is None:
            if name in self._topics:
                raise UnsupportedOperationError(
                    f"'{name}' is a topic: it holds no messages; receive from one of its subscriptions "
                    f"('{name}{SUBSCRIPTIONS_SEGMENT}<subscription>')",
                    details={"topic": name},
                )
            subscription = _SUBSCRIPTION_PATH.match(name)
            if subscription is not None:  # a subscription of a topic that does not exist
                raise TopicNotFoundError(subscription["topic"])
            if create and self.auto_create and name and DEAD_LETTER_SUFFIX.lower() not in name.lower():
                self.create_queue(name, self.auto_create_options)
                return self._queues[name]
            raise QueueNotFoundError(name)
        return entity

    def _entity(self, path: str, *, create: bool = True) -> QueueEntity:
        """Resolve ``queue``, ``topic/Subscriptions/sub`` or either's ``/$DeadLetterQueue`` (any case) and apply
        what is due on it."""
        if "/" in path:
            found = self._subscription_at(path)
            if found is not None:
                subscription, dead_letter = found
                now = self.clock.now()
                self._tick_topic(self._topics[subscription.topic], now)
                main = subscription.queue
                main.tick(now)
                if not dead_letter:
                    return main
                assert main.dead_letter is not None
                main.dead_letter.tick(now)
                return main.dead_letter
        if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()):
            base = self._queue(path[: -len(DEAD_LETTER_SUFFIX)], create=create)
            base.tick(self.clock.now())  # messages it dead-letters on the way land before we read
            entity = base.dead_letter
            assert entity is not None
        else:
            entity = self._queue(path, create=create)
        entity.tick(self.clock.now())
        return entity

    def next_due(self, path: str) -> float | None:
        try:
            due = self._entity(path).next_due()
        except (QueueNotFoundError, UnsupportedOperationError):
            return None
        found = self._subscription_at(path) if "/" in path else None
        if found is not None:
            topic_due = self._topics[found[0].topic].next_due()
            if topic_due is not None:
                due = topic_due if due is None else min(due, topic_due)
        return due

    def tick_all(self) -> None:
        """Apply due events on every queue (after the clock jumps, so waiters see the result)."""
        now = self.clock.now()
        for topic in list(self._topics.values()):
            self._tick_topic(topic, now)
        entities = list(self._queues.values())
        for topic in list(self._topics.values()):
            entities.extend(sub.queue for sub in topic.subscriptions.values())
        for entity in entities:
            entity.tick(now)
            assert entity.dead_letter is not None
            entity.dead_letter.tick(now)

    # ------------------------------------------------------------------ messages

    def send(self, path: str, messages: Sequence[BrokerMessage]) -> list[int]:
        """Store messages (all or none). Returns sequence numbers; a duplicate gets its original's number."""
        if len(messages) > self.limits.max_batch_messages:
            raise BatchTooLargeError(len(messages), self.limits.max_batch_messages)
        topic = self._topics.get(path)
        if topic is not None:
            return self._publish(topic, messages)
        if "/" in path and self._subscription_at(path) is not None:
            raise UnsupportedOperationError(
                f"'{path}' is a subscription: send to its topic; the topic's rules decide what it gets",
                details={"path": path},
            )
        entity = self._entity(path)
        now = self.clock.now()
        entity.check_send(messages, self.limits.max_message_size, now)
        seqs = [entity.add(message, now) for message in messages]
        self._notify(entity.name)
        return seqs

    def check_receiver(self, path: str) -> None:
        """Whether a receiver without a session may open on ``path`` (a session queue needs a session receiver)."""
        self._entity(path).check_receiver()

    def receive(self, path: str, max_count: int = 1, *, delete: bool = False) -> list[BrokerMessage]:
        count = self._count(max_count)
        return self._entity(path).receive(count, self.clock.now(), delete=delete)

    def complete(self, path: str, lock_token: str) -> None:
        self._entity(path).complete(lock_token, self.clock.now())

    def abandon(self, path: str, lock_token: str, properties: dict[str, Any] | None = None) -> None:
        self._entity(path).abandon(lock_token, self.clock.now(), properties)

    def release(self, path: str, lock_token: str) -> None:
        """Like abandon, but the delivery does not count (it was never processed)."""
        self._entity(path).release(lock_token, self.clock.now())

    def defer(self, path: str, lock_token: str, properties: dict[str, Any] | None = None) -> int:
        """Set the message aside; it comes back only through :meth:`receive_deferred` with the returned number."""
        return self._entity(path).defer(lock_token, self.clock.now(), properties)

    def dead_letter(
        self,
        path: str,
        lock_token: str,
        reason: str | None = None,
        description: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self._entity(path).dead_letter_message(lock_token, self.clock.now(), reason, description, properties)

    def restore(self, path: str, messages: Iterable[BrokerMessage]) -> None:
        """Undo a receive-and-delete whose answer reached nobody (the client went away): the messages go back where
        they were, their delivery uncounted."""
        entity = self._entity(path)
        now = self.clock.now()
        for message in messages:
            entity.restore(message, now)

    def set_aside_unencodable(self, path: str, message: BrokerMessage, description: str) -> None:
        """A front received ``message`` but cannot encode it: it goes to the dead-letter queue with reason
        ``MessageCannotBeEncoded`` and ``description``, and the other messages of the receive are delivered."""
        self._entity(path).set_aside(message, self.clock.now(), description)

    def renew_lock(self, path: str, lock_token: str) -> float:
        return self._entity(path).renew_lock(lock_token, self.clock.now())

    def peek(
        self, path: str, from_sequence: int = 1, max_count: int = 1, *, session_id: str | None = None
    ) -> list[BrokerMessage]:
        """Messages in sequence order from ``from_sequence`` (any state), without locking; optionally only those of
        one session (a session receiver's peek)."""
        return self._entity(path).peek(from_sequence, self._count(max_count), session_id)

    def schedule(self, path: str, messages: Sequence[BrokerMessage], at: float) -> list[int]:
        for message in messages:
            message.scheduled_enqueue_time = at
        return self.send(path, messages)

    def cancel_scheduled(self, path: str, sequence_numbers: Iterable[int]) -> None:
        topic = self._topics.get(path)
        if topic is not None:
            seqs = list(sequence_numbers)
            for seq in seqs:
                if not topic.has_pending(seq):
                    raise MessageNotFoundError(
                        f"topic '{path}' has no scheduled message with sequence number {seq}",
                        details={"topic": path, "sequence_number": seq},
                    )
            for seq in seqs:
                topic.cancel(seq)
            return
        self._entity(path).cancel_scheduled(list(sequence_numbers), self.clock.now())

    def receive_deferred(
        self,
        path: str,
        sequence_numbers: Iterable[int],
        *,
        session_id: str | None = None,
        session_token: str | None = None,
    ) -> list[BrokerMessage]:
        seqs = list(sequence_numbers)
        if len(seqs) > self.limits.max_batch_messages:
            raise BatchTooLargeError(len(seqs), self.limits.max_batch_messages)
        return self._entity(path).receive_deferred(seqs, self.clock.now(), session_id, session_token)

    def _count(self, max_count: int) -> int:
        if max_count < 1:
            raise ValidationError("max_messages", f"must be at least 1, got {max_count}")
        return min(max_count, self.limits.max_batch_messages)

    # ------------------------------------------------------------------ sessions

    def accept_session(self, path: str, session_id: str | None = None) -> SessionLease | None:
        """Lock a named session (empty ones too) or the next one with messages; None if there is none."""
        return self._entity(path).accept_session(session_id, self.clock.now())

    def session_receive(
        self, path: str, session_id: str, session_token: str, max_count: int = 1, *, delete: bool = False
    ) -> list[BrokerMessage]:
        count = self._count(max_count)
        return self._entity(path).session_receive(session_id, session_token, count, self.clock.now(), delete=delete)

    def renew_session_lock(self, path: str, session_id: str, session_token: str) -> float:
        return self._entity(path).renew_session_lock(session_id, session_token, self.clock.now())

    def session_locked_until(self, path: str, session_id: str, session_token: str) -> float:
        return self._entity(path).session_locked_until(session_id, session_token)

    def release_session(self, path: str, session_id: str, session_token: str) -> None:
        self._entity(path).release_session(session_id, session_token, self.clock.now())

    def get_session_state(self, path: str, session_id: str, session_token: str) -> bytes | None:
        return self._entity(path).get_session_state(session_id, session_token)

    def set_session_state(self, path: str, session_id: str, session_token: str, state: bytes | None) -> None:
        self._entity(path).set_session_state(session_id, session_token, state, self.clock.now())

    def sessions(self, path: str) -> list[SessionSnapshot]:
        return self._entity(path).sessions()

    def list_sessions(self, path: str, *, updated_after: float | None = None) -> list[str]:
        """Session ids in order, as Service Bus lists them: without ``updated_after``, the sessions that have
        available messages or a state; with it, the sessions whose state was set after that engine time."""
        snapshots = self.sessions(path)
        if updated_after is None:
            chosen = [s for s in snapshots if s.available_count or s.has_state]
        else:
            chosen = [s for s in snapshots if s.state_updated_at is not None and s.state_updated_at > updated_after]
        return sorted(s.session_id for s in chosen)

    # ------------------------------------------------------------------ topics

    def create_topic(self, name: str, options: TopicOptions | None = None) -> TopicProperties:
        check_queue_name(name)  # queues and topics share one namespace and one naming rule
        if name in self._topics or name in self._queues:
            raise TopicAlreadyExistsError(name)
        if len(self._topics) >= self.limits.max_topics:
            raise QuotaExceededError(
                f"cannot create topic '{name}': the limit of {self.limits.max_topics} topics is reached",
                details={"max_topics": self.limits.max_topics},
            )
        self._topics[name] = TopicEntity(name, options or TopicOptions(), self.clock.now(), changes=self._changes)
        self._defined(name)
        return self.get_topic(name)

    def update_topic(self, name: str, options: TopicOptions) -> TopicProperties:
        self._topic(name).options = options
        self._defined(name)
        return self.get_topic(name)

    def get_topic(self, name: str) -> TopicProperties:
        topic = self._topic(name)
        self._tick_topic(topic, self.clock.now())
        return TopicProperties(
            name=name,
            options=topic.options,
            created_at=datetime.fromtimestamp(topic.created_at, UTC),
            subscription_count=len(topic.subscriptions),
            scheduled_count=topic.scheduled_count,
            size_bytes=topic.size_bytes,
        )

    def topic_names(self) -> list[str]:
        return sorted(self._topics)

    def has_topic(self, name: str) -> bool:
        return name in self._topics

    def delete_topic(self, name: str) -> None:
        topic = self._topics.pop(name, None)
        if topic is None:
            raise TopicNotFoundError(name)
        self._defined(name)
        for subscription in topic.subscriptions.values():
            self._notify(subscription.path)
            self._notify(dead_letter_path(subscription.path))

    def entity_kind(self, path: str) -> str:
        """What ``path`` names: ``"topic"``, ``"subscription"`` (or its dead-letter queue) or ``"queue"`` (or its
        dead-letter queue, auto-created like a send would); raises the not-found error of what is missing."""
        if path in self._topics:
            return "topic"
        if "/" in path:
            match = _SUBSCRIPTION_PATH.match(path)
            if match is not None and match["topic"] in self._topics:
                self._subscription(match["topic"], match["sub"])
                return "subscription"
        base = path[: -len(DEAD_LETTER_SUFFIX)] if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()) else path
        self._queue(base)
        return "queue"

    def _topic(self, name: str) -> TopicEntity:
        topic = self._topics.get(name)
        if topic is None:
            raise TopicNotFoundError(name)
        return topic

    def _tick_topic(self, topic: TopicEntity, now: float) -> None:
        for message in topic.due(now):
            self._fan_out(topic, message, now)

    def _publish(self, topic: TopicEntity, messages: Sequence[BrokerMessage]) -> list[int]:
        now = self.clock.now()
        self._tick_topic(topic, now)
        extra = 0
        for message in messages:
            check_portable(message, now)  # the same poison-input rule as a queue send
            message.size = message_size(message)
            if message.size > self.limits.max_message_size:
                raise MessageTooLargeError(message.size, self.limits.max_message_size)
            extra += message.size
        limit = topic.options.max_size_bytes
        if limit is not None:
            used = topic.size_bytes
            if used + extra > limit:
                raise QuotaExceededError(
                    f"topic '{topic.name}' is full: {used} of {limit} bytes used, {extra} more requested",
                    details={"topic": topic.name, "size_bytes": used, "max_size_bytes": limit},
                )
        seqs = []
        for message in messages:
            if message.sequence_number:
                message = message.snapshot()  # the same object passed twice: an independent copy
            seq, new = topic.accept(message, now)
            seqs.append(seq)
            if not new:
                continue
            if message.scheduled_enqueue_time is not None and message.scheduled_enqueue_time > now:
                topic.hold(message)
                continue
            self._fan_out(topic, message, now)
        return seqs

    def _fan_out(self, topic: TopicEntity, message: BrokerMessage, now: float) -> None:
        reached = topic.fan_out(message, now, max_message_size=self.limits.max_message_size, notify=self._notify)
        # One journal line at the topic naming the subscriptions reached (each copy is also "sent" in its own).
        self.journal.record(JournalKind.PUBLISHED, topic.name, now, message, reason=",".join(reached) or None)

    # ------------------------------------------------------------------ subscriptions

    def create_subscription(
        self,
        topic: str,
        name: str,
        options: SubscriptionOptions | None = None,
        rule: RuleProperties | None = None,
    ) -> SubscriptionProperties:
        """A new subscription gets ``rule`` or else the ``$Default`` rule (true filter)."""
        entity = self._topic(topic)
        _check_name("subscription_name", name, _MAX_SUBSCRIPTION_NAME)
        if name in entity.subscriptions:
            raise SubscriptionAlreadyExistsError(topic, name)
        if len(entity.subscriptions) >= self.limits.max_subscriptions_per_topic:
            raise QuotaExceededError(
                f"cannot create subscription '{name}': topic '{topic}' already has the limit of "
                f"{self.limits.max_subscriptions_per_topic} subscriptions",
                details={"topic": topic, "max_subscriptions_per_topic": self.limits.max_subscriptions_per_topic},
            )
        options = options or SubscriptionOptions()
        path = subscription_path(topic, name)
        self._check_forwarding(path, options.forward_to, options.forward_dead_lettered_messages_to)
        compiled = self._compile(entity, rule or RuleProperties(name=DEFAULT_RULE_NAME, filter=TrueFilter()))
        now = self.clock.now()
        subscription = SubscriptionEntity(topic, name, options, self._new_entity(path, options.queue_options(), now),
                                          now)
        self._add_rule(entity, subscription, compiled, now)
        entity.subscriptions[name] = subscription
        entity.index(subscription)
        self._defined(path)
        return self.get_subscription(topic, name)

    def update_subscription(self, topic: str, name: str, options: SubscriptionOptions) -> SubscriptionProperties:
        subscription = self._subscription(topic, name)
        if options.requires_session != subscription.options.requires_session:
            raise ValidationError("requires_session", "cannot be changed after the subscription is created")
        self._check_forwarding(subscription.path, options.forward_to, options.forward_dead_lettered_messages_to)
        subscription.options = options
        self._apply_options(subscription.queue, options.queue_options())
        self._defined(subscription.path)
        return self.get_subscription(topic, name)

    def get_subscription(self, topic: str, name: str) -> SubscriptionProperties:
        subscription = self._subscription(topic, name)
        entity = self._entity(subscription.path)
        assert entity.dead_letter is not None
        entity.dead_letter.tick(self.clock.now())
        counts = entity.counts
        return SubscriptionProperties(
            topic=topic,
            name=name,
            options=subscription.options,
            created_at=datetime.fromtimestamp(subscription.created_at, UTC),
            rule_count=len(subscription.rules),
            active_count=counts[MessageState.AVAILABLE],
            locked_count=counts[MessageState.LOCKED],
            scheduled_count=counts[MessageState.SCHEDULED],
            deferred_count=counts[MessageState.DEFERRED],
            dead_letter_count=sum(entity.dead_letter.counts.values()),
            size_bytes=entity.size_bytes,
            session_count=len(entity.sessions()) if entity.options.requires_session else 0,
        )

    def subscription_names(self, topic: str) -> list[str]:
        return sorted(self._topic(topic).subscriptions)

    def delete_subscription(self, topic: str, name: str) -> None:
        entity = self._topic(topic)
        subscription = entity.subscriptions.pop(name, None)
        if subscription is None:
            raise SubscriptionNotFoundError(topic, name)
        for rule in subscription.rules.values():
            entity.count_rule(rule, -1)
        entity.unindex(name)
        self._defined(subscription.path)
        self._notify(subscription.path)
        self._notify(dead_letter_path(subscription.path))

    def _subscription(self, topic: str, name: str) -> SubscriptionEntity:
        subscription = self._topic(topic).subscriptions.get(name)
        if subscription is None:
            raise SubscriptionNotFoundError(topic, name)
        return subscription

    def _subscription_at(self, path: str) -> tuple[SubscriptionEntity, bool] | None:
        """The subscription a path names (``topic/Subscriptions/sub[/$DeadLetterQueue]``, the segments in any
        case) and whether it is its dead-letter queue; None if the path is no subscription path."""
        match = _SUBSCRIPTION_PATH.match(path)
        if match is None or match["topic"] not in self._topics:
            return None
        return self._subscription(match["topic"], match["sub"]), match["dlq"] is not None

    # ------------------------------------------------------------------ rules

    def create_rule(self, topic: str, subscription: str, rule: RuleProperties) -> RuleProperties:
        entity = self._topic(topic)
        sub = self._subscription(topic, subscription)
        if rule.name in sub.rules:
            raise RuleAlreadyExistsError(
                f"rule '{rule.name}' of subscription '{subscription}' (topic '{topic}') already exists",
                details={"topic": topic, "subscription": subscription, "rule": rule.name},
            )
        if len(sub.rules) >= self.limits.max_rules_per_subscription:
            raise QuotaExceededError(
                f"subscription '{subscription}' already has the limit of {self.limits.max_rules_per_subscription}"
                " rules",
                details={"max_rules_per_subscription": self.limits.max_rules_per_subscription},
            )
        compiled = self._compile(entity, rule)
        self._add_rule(entity, sub, compiled, self.clock.now())
        entity.index(sub)
        self._defined(sub.path)
        return self.get_rule(topic, subscription, rule.name)

    def update_rule(self, topic: str, subscription: str, rule: RuleProperties) -> RuleProperties:
        """Replace the filter and action of an existing rule (messages already copied are not touched)."""
        entity = self._topic(topic)
        sub = self._subscription(topic, subscription)
        old = sub.rules.get(rule.name)
        if old is None:
            raise self._rule_not_found(topic, subscription, rule.name)
        entity.count_rule(old, -1)
        try:
            compiled = self._compile(entity, rule)
        except QueueError:
            entity.count_rule(old, +1)
            raise
        sub.rules[rule.name] = compiled
        entity.count_rule(compiled, +1)
        entity.index(sub)
        self._defined(sub.path)
        return self.get_rule(topic, subscription, rule.name)

    def delete_rule(self, topic: str, subscription: str, name: str) -> None:
        entity = self._topic(topic)
        sub = self._subscription(topic, subscription)
        rule = sub.rules.pop(name, None)
        if rule is None:
            raise self._rule_not_found(topic, subscription, name)
        sub.rule_created.pop(name, None)
        entity.count_rule(rule, -1)
        entity.index(sub)
        self._defined(sub.path)

    def get_rule(self, topic: str, subscription: str, name: str) -> RuleProperties:
        sub = self._subscription(topic, subscription)
        rule = sub.rules.get(name)
        if rule is None:
            raise self._rule_not_found(topic, subscription, name)
        return rule.properties.model_copy(
            update={"created_at": datetime.fromtimestamp(sub.rule_created[name], UTC)}
        )

    def rules(self, topic: str, subscription: str) -> list[RuleProperties]:
        sub = self._subscription(topic, subscription)
        return [self.get_rule(topic, subscription, name) for name in sub.rules]

    def _compile(self, topic: TopicEntity, rule: RuleProperties) -> CompiledRule:
        _check_name("rule_name", rule.name, _MAX_RULE_NAME)
        compiled = compile_rule(rule)
        if compiled.is_sql and topic.sql_rules >= self.limits.max_sql_filters_per_topic:
            raise QuotaExceededError(
                f"topic '{topic.name}' already has the limit of {self.limits.max_sql_filters_per_topic} SQL filters",
                details={"max_sql_filters_per_topic": self.limits.max_sql_filters_per_topic},
            )
        if compiled.is_correlation and topic.correlation_rules >= self.limits.max_correlation_filters_per_topic:
            raise QuotaExceededError(
                f"topic '{topic.name}' already has the limit of "
                f"{self.limits.max_correlation_filters_per_topic} correlation filters",
                details={"max_correlation_filters_per_topic": self.limits.max_correlation_filters_per_topic},
            )
        return compiled

    @staticmethod
    def _add_rule(topic: TopicEntity, sub: SubscriptionEntity, rule: CompiledRule, now: float) -> None:
        sub.rules[rule.name] = rule
        sub.rule_created[rule.name] = now
        topic.count_rule(rule, +1)

    @staticmethod
    def _rule_not_found(topic: str, subscription: str, name: str) -> RuleNotFoundError:
        return RuleNotFoundError(
            f"rule '{name}' of subscription '{subscription}' (topic '{topic}') does not exist",
            details={"topic": topic, "subscription": subscription, "rule": name},
        )

    def set_extensions(self, path: str, extensions: dict[str, Any], updated_at: float | None = None) -> None:
        """Keep ``extensions`` with the queue, topic or subscription at ``path`` (replacing what was kept): what one
        front needs to answer back about an entity and the engine never reads. It lives and dies with the entity
        (and is kept in a data directory with it). ``updated_at`` is when the front last changed the entity."""
        holder = self._extensible(path)
        holder.extensions = dict(extensions)
        holder.updated_at = updated_at
        self._defined(path)

    def extensions(self, path: str) -> tuple[dict[str, Any], float | None]:
        """What :meth:`set_extensions` kept for ``path`` (empty if nothing), and its ``updated_at``."""
        holder = self._extensible(path)
        return dict(holder.extensions), holder.updated_at

    def _extensible(self, path: str) -> QueueEntity | TopicEntity | SubscriptionEntity:
        if path in self._queues:
            return self._queues[path]
        if path in self._topics:
            return self._topics[path]
        found = self._subscription_at(path) if "/" in path else None
        if found is None or found[1]:
            raise QueueNotFoundError(path)
        return found[0]

    def _defined(self, path: str) -> None:
        if self._changes is not None:
            self._changes.defined(path)

    # ------------------------------------------------------------------ auto-forwarding

    def _check_forwarding(self, source: str, *targets: str | None) -> None:
        for target in targets:
            if target is None:
                continue
            if target == source:
                raise ValidationError("forward_to", f"'{source}' cannot forward to itself")
            if target not in self._queues and target not in self._topics:
                raise QueueNotFoundError(
                    target, details={"hint": f"the forwarding target of '{source}' must be an existing queue or topic"}
                )

    def _install_forwarding(self, entity: QueueEntity, options: QueueOptions) -> None:
        entity.forward = self._forwarder(entity.name, options.forward_to) if options.forward_to else None
        target = options.forward_dead_lettered_messages_to
        source = dead_letter_path(entity.name)
        entity.forward_dead_lettered = self._forwarder(source, target) if target else None

    def _forwarder(self, source: str, target: str) -> Forwarder:
        def forward(message: BrokerMessage, now: float) -> tuple[str, str] | None:
            if message.forward_hops >= self.limits.max_forward_hops:
                return (
                    HOP_LIMIT_REASON,
                    f"The message was forwarded {message.forward_hops} times, the most allowed; "
                    f"it was not forwarded to '{target}'.",
                )
            message.forward_hops += 1
            message.sequence_number = 0
            try:
                self._deliver(target, message, now)
            except QueueError as exc:
                message.forward_hops -= 1
                return FORWARD_FAILED_REASON, f"Forwarding to '{target}' failed: {exc.message}"
            self.journal.record(JournalKind.FORWARDED, source, now, message, reason=target)
            return None

        return forward

    def _deliver(self, path: str, message: BrokerMessage, now: float) -> None:
        """Store a forwarded message in a queue or publish it to a topic (no auto-create)."""
        topic = self._topics.get(path)
        if topic is not None:
            self._publish(topic, [message])
            return
        entity = self._queues.get(path)
        if entity is None:
            raise QueueNotFoundError(path)
        entity.check_send([message], self.limits.max_message_size, now)
        entity.add(message, now)
        self._notify(entity.name)


def _check_name(field: str, name: str, max_length: int) -> None:
    if not name:
        raise ValidationError(field, "must not be empty")
    if len(name) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters, got {len(name)}")
    if "/" in name or "\\" in name:
        raise ValidationError(field, f"{name!r} must not contain '/' or '\\'")


_DEAD_LETTER_PROPERTIES = ("DeadLetterReason", "DeadLetterErrorDescription")


def _resubmitted(message: BrokerMessage) -> BrokerMessage:
    fresh = message.snapshot()
    for name in _DEAD_LETTER_PROPERTIES:
        fresh.application_properties.pop(name, None)
    fresh.dead_letter_reason = fresh.dead_letter_description = fresh.dead_letter_source = None
    fresh.sequence_number = 0
    fresh.delivery_count = 0
    fresh.state = MessageState.AVAILABLE
    fresh.scheduled_enqueue_time = None
    return fresh
