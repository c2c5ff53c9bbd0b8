"""The operation journal: what happened to which message, on which entity, done by which client, in order.

The engine calls :meth:`Journal.record` once per change of a message's fate (and :meth:`Journal.record_session`
for session locks). Recording must stay cheap enough to leave on by default, so it only appends a plain tuple to a
bounded ``deque``; :class:`JournalEntry` objects and dicts are built when somebody reads.

Which client acted is not an engine argument: a front sets it for the work it does with :func:`acting_client`
(a context variable, so each asyncio task, that is each request or connection, carries its own), and the journal
reads it when it records.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .records import BrokerMessage

__all__ = [
    "DEFAULT_JOURNAL_SIZE",
    "Journal",
    "JournalEntry",
    "JournalKind",
    "acting_client",
    "current_client",
    "set_client",
]

DEFAULT_JOURNAL_SIZE = 10_000


class JournalKind(StrEnum):
    SENT = "sent"
    PUBLISHED = "published"  # to a topic (with the subscriptions it reached in ``reason``)
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"  # a scheduled message cancelled
    DELIVERED = "delivered"  # locked for a receiver (delivery count and lock expiry on the entry)
    RECEIVED_AND_DELETED = "received_and_deleted"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    RELEASED = "released"  # given back unprocessed (AMQP released): the delivery does not count
    DEFERRED = "deferred"
    DEAD_LETTERED = "dead_lettered"  # reason and description on the entry
    EXPIRED = "expired"
    LOCK_LOST = "lock_lost"
    FORWARDED = "forwarded"  # auto-forwarded to another entity (``reason`` names it)
    RESUBMITTED = "resubmitted"  # from a dead-letter queue back to its source
    DELETED = "deleted"  # removed by hand (dashboard, REST) without being received
    PURGED = "purged"
    SESSION_ACCEPTED = "session_accepted"
    SESSION_RELEASED = "session_released"
    SESSION_LOST = "session_lost"


_client: contextvars.ContextVar[str | None] = contextvars.ContextVar("queue_runtime_journal_client", default=None)


def current_client() -> str | None:
    return _client.get()


def set_client(client: str | None) -> contextvars.Token[str | None]:
    """Name the client for everything this task (and the tasks it starts) does from now on."""
    return _client.set(client)


@contextlib.contextmanager
def acting_client(client: str | None) -> Iterator[None]:
    """Name the client for the engine calls made inside the block."""
    token = _client.set(client)
    try:
        yield
    finally:
        _client.reset(token)


# The tuple layout of one recorded entry (kept positional: building a tuple is the cheapest record).
# Only the fields a query filters on are named: id, time, kind, entity, message id. Every field is an atomic value
# (the kind is stored as its string, not the enum member), so the garbage collector stops tracking the tuples and
# a full ring costs collections nothing.
_ID, _TIME, _KIND, _ENTITY, _MESSAGE_ID = range(5)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    id: int
    time: float  # on the engine's clock (epoch seconds)
    kind: JournalKind
    entity: str
    message_id: str | None
    sequence_number: int | None
    session_id: str | None
    delivery_count: int | None
    locked_until: float | None
    client: str | None
    reason: str | None
    description: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": datetime.fromtimestamp(self.time, UTC).isoformat(),
            "kind": self.kind.value,
            "entity": self.entity,
            "message_id": self.message_id,
            "sequence_number": self.sequence_number,
            "session_id": self.session_id,
            "delivery_count": self.delivery_count,
            "locked_until": (
                datetime.fromtimestamp(self.locked_until, UTC).isoformat() if self.locked_until is not None else None
            ),
            "client": self.client,
            "reason": self.reason,
            "description": self.description,
        }

    def line(self) -> str:
        """One readable line, as assertion failures show it."""
        when = datetime.fromtimestamp(self.time, UTC).strftime("%H:%M:%S.%f")[:-3]
        parts = [f"#{self.id}", when, f"{self.kind.value:<14}", self.entity]
        if self.sequence_number is not None:
            parts.append(f"seq={self.sequence_number}")
        if self.message_id is not None:
            parts.append(f"id={self.message_id}")
        if self.session_id is not None:
            parts.append(f"session={self.session_id}")
        if self.kind is JournalKind.DELIVERED and self.delivery_count is not None:
            parts.append(f"delivery={self.delivery_count}")
        if self.reason is not None:
            parts.append(f"reason={self.reason!r}")
        if self.description is not None:
            parts.append(f"description={self.description!r}")
        if self.client is not None:
            parts.append(f"by={self.client}")
        return " ".join(parts)


def _entry(raw: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(raw[0], raw[1], JournalKind(raw[2]), *raw[3:])


def matches_entity(path: str, entity: str) -> bool:
    """``q`` covers ``q`` and its sub-entities (``q/$DeadLetterQueue``, a topic's subscriptions); case-insensitive
    like Service Bus names."""
    path_l, entity_l = path.lower(), entity.lower()
    return path_l == entity_l or path_l.startswith(entity_l.rstrip("/") + "/")


class Recorder(Protocol):
    def __call__(
        self,
        kind: JournalKind,
        entity: str,
        now: float,
        message: BrokerMessage,
        reason: str | None = None,
        description: str | None = None,
    ) -> None: ...


def _ignore(
    kind: JournalKind,
    entity: str,
    now: float,
    message: BrokerMessage,
    reason: str | None = None,
    description: str | None = None,
) -> None:
    return None


class Journal:
    """A bounded ring of entries; the oldest are dropped (and counted) when it is full."""

    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE, *, enabled: bool = True) -> None:
        """``size`` 0 (or ``enabled=False``) turns recording off."""
        if size < 0:
            raise ValueError(f"journal size must be 0 (off) or more, got {size}")
        self.size = size
        self.enabled = enabled and size > 0
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=max(size, 1))
        self._cleared_at = 0
        self._cleared = 0
        self._listeners: list[Callable[[], None]] = []
        self._ids = itertools.count(1)
        self.record: Recorder = self._recorder() if self.enabled else _ignore

    # ------------------------------------------------------------------ recording (hot path)

    def _recorder(self) -> Recorder:
        # A closure over locals: the per-entry work is one counter step, one tuple and one append (attribute
        # lookups on self would cost a measurable share of an engine round trip).
        append = self._entries.append
        ids = self._ids
        client = _client.get
        listeners = self._listeners
        wake = self._wake

        def record(
            kind: JournalKind,
            entity: str,
            now: float,
            message: BrokerMessage,
            reason: str | None = None,
            description: str | None = None,
        ) -> None:
            append((
                next(ids), now, kind._value_, entity, message.message_id, message.sequence_number,
                message.session_id, message.delivery_count, message.locked_until, client(), reason, description,
            ))
            if listeners:
                wake()

        return record

    # ------------------------------------------------------------------ recording (hot path)

    def record_session(
        self, kind: JournalKind, entity: str, now: float, session_id: str, locked_until: float | None = None
    ) -> None:
        if not self.enabled:
            return
        self._entries.append((
            next(self._ids), now, kind._value_, entity, None, None, session_id, None, locked_until, _client.get(),
            None, None,
        ))
        if self._listeners:
            self._wake()

    def record_entity(self, kind: JournalKind, entity: str, now: float, reason: str | None = None) -> None:
        """An entry about an entity as a whole (a purge: ``reason`` says how many)."""
        if not self.enabled:
            return
        self._entries.append((
            next(self._ids), now, kind._value_, entity, None, None, None, None, None, _client.get(), reason, None,
        ))
        if self._listeners:
            self._wake()

    def _wake(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ------------------------------------------------------------------ reading

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """``listener()`` is called after each new entry (from the engine's thread; keep it tiny)."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @property
    def recorded(self) -> int:
        """Entries recorded since the start (the id of the newest one)."""
        return self._entries[-1][_ID] if self._entries else self._cleared_at

    @property
    def dropped(self) -> int:
        """Entries pushed out of the ring because it was full."""
        return self.recorded - len(self._entries) - self._cleared

    def clear(self) -> None:
        """Forget the entries (ids keep counting, so a follower never sees an id twice)."""
        self._cleared_at = self.recorded
        self._cleared += len(self._entries)
        self._entries.clear()

    def entries(
        self,
        *,
        entity: str | Collection[str] | None = None,
        kinds: Collection[JournalKind | str] | None = None,
        message_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Matching entries, oldest first (with ``limit``: the newest ``limit`` of them)."""
        entities = [entity] if isinstance(entity, str) else list(entity) if entity is not None else None
        wanted = {JournalKind(kind).value for kind in kinds} if kinds else None
        # Walk back from the newest entry: followers (after_id) and tails (limit) stop after a few steps.
        found: list[JournalEntry] = []
        for raw in reversed(self._entries):
            if raw[_ID] <= after_id or (limit is not None and len(found) >= limit):
                break
            if wanted is not None and raw[_KIND] not in wanted:
                continue
            if message_id is not None and raw[_MESSAGE_ID] != message_id:
                continue
            if since is not None and raw[_TIME] < since:
                continue
            if until is not None and raw[_TIME] > until:
                continue
            if entities is not None and not any(matches_entity(raw[_ENTITY], e) for e in entities):
                continue
            found.append(_entry(raw))
        found.reverse()
        return found
