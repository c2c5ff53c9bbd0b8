"""What a data directory needs from the engine: a record of what each operation changed, a broker that hands that
record to a store before the operation returns, and the way back from what a store kept to a running engine.

The engine's rules stay where they are. Entities note *which* records an operation touched (a message, a session's
state, a sequence counter, a duplicate-detection entry, an entity's definition); the store reads the records' values
when the operation ends and writes them in one transaction. Loading puts every record back in the state it was
saved in; the one rule a restart itself applies (a session lock belongs to a link, and a restart closes every link)
is the entity's own :meth:`QueueEntity.lose_session_locks`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from .._queues import QueueOptions
from .._topics import RuleProperties, SubscriptionOptions, TopicOptions
from .engine import SUBSCRIPTIONS_SEGMENT, Broker, subscription_path
from .entity import DEAD_LETTER_SUFFIX, QueueEntity
from .records import BrokerMessage
from .rules import compile_rule
from .topics import SubscriptionEntity, TopicEntity

__all__ = [
    "Changes",
    "Definition",
    "DurableBroker",
    "SavedDefinition",
    "SavedQueue",
    "SavedQueueEntity",
    "SavedState",
    "SavedSubscription",
    "SavedTopic",
    "Store",
    "definition_of",
    "restore",
]

Holder = QueueEntity | TopicEntity


class Changes:
    """The records one operation touched, by holder (a queue, a dead-letter queue, a subscription, a topic)."""

    __slots__ = ("counters", "dedup", "definitions", "forgotten", "messages", "reset", "sessions", "timed")

    def __init__(self) -> None:
        # holder -> {sequence number: whether the whole message must be written (else only its state)}
        self.messages: dict[Holder, dict[int, bool]] = {}
        self.counters: set[Holder] = set()
        self.sessions: dict[QueueEntity, set[str]] = {}
        self.dedup: dict[Holder, list[tuple[str, int, float]]] = {}
        self.forgotten: dict[Holder, float] = {}
        self.definitions: set[str] = set()
        self.reset = False
        self.timed = False  # a manual clock moved: its time is written too

    def __bool__(self) -> bool:
        return bool(self.messages or self.counters or self.sessions or self.dedup or self.forgotten
                    or self.definitions or self.reset or self.timed)

    def clear(self) -> None:
        self.messages = {}
        self.counters = set()
        self.sessions = {}
        self.dedup = {}
        self.forgotten = {}
        self.definitions = set()
        self.reset = False
        self.timed = False

    def added(self, holder: Holder, seq: int) -> None:
        touched = self.messages.get(holder)
        if touched is None:
            self.messages[holder] = {seq: True}
        else:
            touched[seq] = True
        self.counters.add(holder)

    def changed(self, holder: Holder, seq: int) -> None:
        touched = self.messages.get(holder)
        if touched is None:
            self.messages[holder] = {seq: False}
        elif seq not in touched:
            touched[seq] = False

    def numbered(self, holder: Holder) -> None:
        self.counters.add(holder)

    def session(self, entity: QueueEntity, session_id: str) -> None:
        self.sessions.setdefault(entity, set()).add(session_id)

    def remembered(self, holder: Holder, message_id: str, seq: int, at: float) -> None:
        """A duplicate-detection entry: ``message_id`` was first seen at ``at`` and got ``seq``."""
        self.dedup.setdefault(holder, []).append((message_id, seq, at))

    def forgot(self, holder: Holder, horizon: float) -> None:
        """Duplicate-detection entries of ``holder`` recorded before ``horizon`` are gone."""
        self.forgotten[holder] = max(horizon, self.forgotten.get(holder, horizon))

    def defined(self, path: str) -> None:
        """An entity (queue, topic or subscription) was created, changed or deleted: its definition is rewritten."""
        self.definitions.add(path)

    def wiped(self) -> None:
        self.reset = True
        self.definitions.clear()
        self.messages.clear()
        self.sessions.clear()
        self.dedup.clear()
        self.forgotten.clear()
        self.counters.clear()


class Store(Protocol):
    """Where a :class:`DurableBroker` writes: ``commit`` must make ``changes`` durable before it returns."""

    def commit(self, broker: Broker, changes: Changes) -> None: ...

    def attach(self, broker: Broker) -> None:
        """Called once the broker holds what the store kept (to map engine objects to the store's records)."""

    def close(self) -> None: ...


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _committed(method: _Method) -> _Method:
    @functools.wraps(method)
    def run(self: DurableBroker, *args: Any, **kwargs: Any) -> Any:
        self._depth += 1
        result: Any = None
        try:
            result = method(self, *args, **kwargs)
            return result
        finally:
            self._depth -= 1
            if self._depth == 0 and self._changes:
                try:
                    self._commit()
                except BaseException:
                    if kwargs.get("delete") and result:
                        # Received-and-deleted messages that the caller will never get: the engine puts them back
                        # (its own rule for a delivery that reached nobody), and the next commit writes them again.
                        self.restore(args[0], result)
                    raise

    return run  # type: ignore[return-value]


class DurableBroker(Broker):
    """A :class:`Broker` whose every operation is written to its store before it returns, so nothing a front
    acknowledges can be lost by a crash that follows. One operation is one transaction: a move from a queue to its
    dead-letter queue, a fan-out to many subscriptions or a resubmit lands whole or not at all."""

    def __init__(self, store: Store, *args: Any, **kwargs: Any) -> None:
        self._store = store
        self._depth = 0
        super().__init__(*args, changes=Changes(), **kwargs)
        self._unsubscribe_clock = self.clock.subscribe(self._clock_moved)

    def _clock_moved(self) -> None:
        assert self._changes is not None
        self._changes.timed = True
        self.tick_all()  # what became due is written with the new time

    @property
    def store(self) -> Store:
        return self._store

    def load(self, saved: SavedState) -> None:
        """Fill this (empty) broker with what its store kept, and write what the restart itself changed."""
        restore(self, saved)
        self._store.attach(self)
        self._commit()

    def close(self) -> None:
        self._unsubscribe_clock()
        self._store.close()

    def _commit(self) -> None:
        changes = self._changes
        assert changes is not None
        if changes:
            # Kept on failure: the next operation writes them again (a store that cannot write says so then too).
            self._store.commit(self, changes)
            changes.clear()


for _name, _value in list(vars(Broker).items()):
    if not _name.startswith("_") and callable(_value) and _name != "add_listener":
        setattr(DurableBroker, _name, _committed(_value))


# ---------------------------------------------------------------------------------------------- definitions


@dataclass(frozen=True, slots=True)
class Definition:
    """What an entity is, apart from its messages: enough to create it again."""

    kind: Literal["queue", "topic", "subscription"]
    path: str
    created_at: float
    options: dict[str, Any]
    rules: tuple[tuple[dict[str, Any], float], ...] = ()
    extensions: dict[str, Any] = field(default_factory=dict)
    updated_at: float | None = None
    # the engine objects that hold its records: the entity (or topic) and its dead-letter queue
    holders: tuple[Holder, ...] = ()


def definition_of(broker: Broker, path: str) -> Definition | None:
    """The definition of the queue, topic or subscription at ``path`` now (None if there is none). Reads only:
    nothing becomes due."""
    queue = broker._queues.get(path)
    if queue is not None:
        assert queue.dead_letter is not None
        return Definition("queue", path, queue.created_at, queue.options.model_dump(), (), queue.extensions,
                          queue.updated_at, (queue, queue.dead_letter))
    topic = broker._topics.get(path)
    if topic is not None:
        return Definition("topic", path, topic.created_at, topic.options.model_dump(), (), topic.extensions,
                          topic.updated_at, (topic,))
    topic_name, separator, name = path.partition(SUBSCRIPTIONS_SEGMENT)
    parent = broker._topics.get(topic_name) if separator else None
    subscription = parent.subscriptions.get(name) if parent is not None else None
    if subscription is None or subscription.path != path:
        return None
    rules = tuple(
        (rule.properties.model_dump(), subscription.rule_created[name]) for name, rule in subscription.rules.items()
    )
    main = subscription.queue
    assert main.dead_letter is not None
    return Definition("subscription", path, subscription.created_at, subscription.options.model_dump(), rules,
                      subscription.extensions, subscription.updated_at, (main, main.dead_letter))


# ---------------------------------------------------------------------------------------------- loading


@dataclass(slots=True)
class SavedQueue:
    """The records of one queue-like entity (a queue, a subscription, or either's dead-letter queue)."""

    next_sequence: int = 1
    messages: list[BrokerMessage] = field(default_factory=list)
    sessions: list[tuple[str, bytes, float | None]] = field(default_factory=list)
    remembered: list[tuple[str, int, float]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class SavedDefinition:
    """What every kept entity has: its name (a subscription's own, not its path), definition and front extensions."""

    name: str
    created_at: float
    options: dict[str, Any]
    extensions: dict[str, Any] = field(default_factory=dict)
    updated_at: float | None = None


@dataclass(slots=True, kw_only=True)
class SavedSubscription(SavedDefinition):
    rules: list[tuple[dict[str, Any], float]]
    queue: SavedQueue
    dead_letter: SavedQueue


@dataclass(slots=True, kw_only=True)
class SavedTopic(SavedDefinition):
    next_sequence: int = 1
    pending: list[BrokerMessage] = field(default_factory=list)
    remembered: list[tuple[str, int, float]] = field(default_factory=list)
    subscriptions: list[SavedSubscription] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class SavedQueueEntity(SavedDefinition):
    queue: SavedQueue
    dead_letter: SavedQueue


@dataclass(slots=True)
class SavedState:
    """Everything a store kept, ready for :func:`restore`."""

    queues: list[SavedQueueEntity] = field(default_factory=list)
    topics: list[SavedTopic] = field(default_factory=list)
    clock: float | None = None
    """The manual clock's time when it was saved (None under the system clock)."""


def restore(broker: Broker, saved: SavedState) -> None:
    """Fill an empty broker with ``saved``, then apply the restart's own rule (session locks are lost). Forwarding
    targets are looked up when a message moves, so entities come back in any order."""
    assert not broker._queues and not broker._topics, "restore() fills an empty broker"
    now = broker.clock.now()
    loaded: list[QueueEntity] = []
    for queue in saved.queues:
        entity = broker._new_entity(queue.name, QueueOptions.model_validate(queue.options), queue.created_at)
        _load(entity, queue.queue, queue.dead_letter)
        entity.extensions, entity.updated_at = dict(queue.extensions), queue.updated_at
        broker._queues[queue.name] = entity
        loaded.append(entity)
    for saved_topic in saved.topics:
        topic = TopicEntity(saved_topic.name, TopicOptions.model_validate(saved_topic.options),
                            saved_topic.created_at, changes=broker._changes)
        topic.extensions, topic.updated_at = dict(saved_topic.extensions), saved_topic.updated_at
        for sub in saved_topic.subscriptions:
            options = SubscriptionOptions.model_validate(sub.options)
            path = subscription_path(saved_topic.name, sub.name)
            entity = broker._new_entity(path, options.queue_options(), sub.created_at)
            subscription = SubscriptionEntity(saved_topic.name, sub.name, options, entity, sub.created_at)
            subscription.extensions, subscription.updated_at = dict(sub.extensions), sub.updated_at
            for rule, created_at in sub.rules:
                Broker._add_rule(topic, subscription, compile_rule(RuleProperties.model_validate(rule)), created_at)
            _load(entity, sub.queue, sub.dead_letter)
            topic.subscriptions[sub.name] = subscription
            topic.index(subscription)
            loaded.append(entity)
        topic.load(saved_topic.next_sequence, saved_topic.pending, saved_topic.remembered)
        broker._topics[saved_topic.name] = topic
    if broker._changes is not None:
        broker._changes.clear()  # loading changed nothing that is not already stored
    for entity in loaded:
        entity.lose_session_locks(now)


def _load(entity: QueueEntity, main: SavedQueue, dead_letter: SavedQueue) -> None:
    entity.load(main.next_sequence, main.messages, main.sessions, main.remembered)
    assert entity.dead_letter is not None and entity.dead_letter.name == entity.name + DEAD_LETTER_SUFFIX
    entity.dead_letter.load(dead_letter.next_sequence, dead_letter.messages, dead_letter.sessions,
                            dead_letter.remembered)
