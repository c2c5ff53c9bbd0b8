"""The broker engine: every queue of one emulator or in-memory provider, behind one method per operation.

Pure and synchronous: no I/O and no asyncio. Each call first applies what became due on the clock (lost locks,
scheduled messages, TTLs) for the entity it touches, so a late settle always sees the lock as lost and the message
back in its queue. Fronts and providers wait for messages through :mod:`queue_runtime.broker.waiting`, which
listens to :meth:`Broker.add_listener`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._queues import QueueOptions, QueueProperties
from ..errors import (
    BatchTooLargeError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    QuotaExceededError,
    ValidationError,
)
from .clock import Clock, SystemClock
from .entity import DEAD_LETTER_SUFFIX, QueueEntity
from .journal import Journal, JournalKind
from .naming import check_queue_name
from .records import BrokerMessage, MessageState, SessionLease, SessionSnapshot

__all__ = ["Broker", "BrokerLimits", "IdleReport", "dead_letter_path"]


def dead_letter_path(queue: str) -> str:
    return queue + DEAD_LETTER_SUFFIX


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """Limits are settings, not constants: a parallel test suite needs many queues."""

    max_message_size: int = 1024 * 1024
    max_queues: int = 100_000
    # Messages per send, and the most one receive or peek returns (a larger request gets this many).
    max_batch_messages: int = 1000


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
    ) -> None:
        self.clock = clock or SystemClock()
        self.limits = limits or BrokerLimits()
        self.auto_create = auto_create
        self.auto_create_options = auto_create_options or QueueOptions()
        self._queues: dict[str, QueueEntity] = {}
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
        if name in self._queues:
            raise QueueAlreadyExistsError(name)
        if len(self._queues) >= self.limits.max_queues:
            raise QuotaExceededError(
                f"cannot create queue '{name}': the limit of {self.limits.max_queues} queues is reached",
                details={"max_queues": self.limits.max_queues},
            )
        options = options or QueueOptions()
        now = self.clock.now()
        dead_letter = QueueEntity(dead_letter_path(name), QueueOptions(lock_duration=options.lock_duration),
                                  now, notify=self._notify, journal=self.journal)
        self._queues[name] = QueueEntity(name, options, now, notify=self._notify, dead_letter=dead_letter,
                                         journal=self.journal)
        return self.get_queue(name)

    def delete_queue(self, name: str) -> None:
        if self._queues.pop(name, None) is None:
            raise QueueNotFoundError(name)
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
        self._queues.clear()
        self.journal.clear()
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
        dead_letters.remove(chosen)
        new_seqs = [source.add(m, now, JournalKind.RESUBMITTED) for m in fresh]
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
                entity = self._entity(path)
            except QueueNotFoundError:
                continue
            reasons = entity.busy(now, grace)
            if reasons:
                busy[path] = reasons
        return IdleReport(idle=not busy, busy=busy)

    def _queue(self, name: str) -> QueueEntity:
        entity = self._queues.get(name)
        if entity is None:
            if self.auto_create and name and DEAD_LETTER_SUFFIX.lower() not in name.lower():
                self.create_queue(name, self.auto_create_options)
                return self._queues[name]
            raise QueueNotFoundError(name)
        return entity

    def _entity(self, path: str) -> QueueEntity:
        """Resolve ``queue`` or ``queue/$DeadLetterQueue`` (any case) and apply what is due on it."""
        if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()):
            base = self._queue(path[: -len(DEAD_LETTER_SUFFIX)])
            base.tick(self.clock.now())  # messages it dead-letters on the way land before we read
            entity = base.dead_letter
            assert entity is not None
        else:
            entity = self._queue(path)
        entity.tick(self.clock.now())
        return entity

    def next_due(self, path: str) -> float | None:
        try:
            return self._entity(path).next_due()
        except QueueNotFoundError:
            return None

    def tick_all(self) -> None:
        """Apply due events on every queue (after the clock jumps, so waiters see the result)."""
        now = self.clock.now()
        for entity in list(self._queues.values()):
            entity.tick(now)
            assert entity.dead_letter is not None
            entity.dead_letter.tick(now)

    # ------------------------------------------------------------------ messages

    def send(self, path: str, messages: Sequence[BrokerMessage]) -> list[int]:
        """Store messages (all or none). Returns sequence numbers; a duplicate gets its original's number."""
        if len(messages) > self.limits.max_batch_messages:
            raise BatchTooLargeError(len(messages), self.limits.max_batch_messages)
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
