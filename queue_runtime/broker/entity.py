"""One queue (or its dead-letter sub-queue): every rule about messages, locks and sessions lives here.

Data structures keep every operation O(log n) in the queue depth:
- ``_available``: a heap of sequence numbers ready to be received (non-session messages); each session keeps
  its own heap, and ``_acceptable`` is a heap of (oldest sequence number, session id) for accept-next.
- ``_lock_expiry``, ``_session_expiry``, ``_scheduled``, ``_ttl``: heaps of (time, key) processed lazily by
  :meth:`QueueEntity.tick`; an entry whose record changed since it was pushed is stale and skipped.
- ``_order``: a sorted list of every sequence number held, for peek.
The entity never deletes a message because a lock was lost: a lost lock sends the message back to its queue.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedList

from .._queues import QueueOptions
from ..errors import (
    MessageLockedError,
    MessageLockLostError,
    MessageNotFoundError,
    MessageTooLargeError,
    QuotaExceededError,
    SessionCannotBeLockedError,
    SessionLockLostError,
    SessionRequiredError,
    UnsupportedOperationError,
)
from .journal import Journal, JournalKind
from .records import (
    BrokerMessage,
    MessageState,
    SessionLease,
    SessionSnapshot,
    check_portable,
    check_portable_properties,
    message_size,
)
from .tokens import new_lock_token

if TYPE_CHECKING:
    from .durable import Changes

__all__ = ["DEAD_LETTER_SUFFIX", "QueueEntity"]

DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_EXPIRED_REASON = "TTLExpiredException"
UNENCODABLE_REASON = "MessageCannotBeEncoded"
# Settling with a token whose lock is gone says why for this long; after that it is just "unknown".
_TOMBSTONE_SECONDS = 600.0
_TOMBSTONE_MAX = 100_000


# ``forward(message, now)`` moves a message on to another entity; it returns None when done, else the
# (reason, description) to dead-letter the message with here instead.
Forwarder = Callable[[BrokerMessage, float], "tuple[str, str] | None"]


@dataclass(slots=True)
class _Session:
    session_id: str
    available: list[int] = field(default_factory=list)
    in_flight: set[int] = field(default_factory=set)
    holder: str | None = None
    locked_until: float = 0.0
    state: bytes | None = None
    state_updated_at: float | None = None
    queued_for_accept: bool = False


class QueueEntity:
    def __init__(
        self,
        name: str,
        options: QueueOptions,
        created_at: float,
        *,
        notify: Callable[[str], None],
        dead_letter: QueueEntity | None = None,
        journal: Journal | None = None,
        changes: Changes | None = None,
    ) -> None:
        self.name = name
        # What a data directory must write after the current operation (None: nothing is persisted).
        self._changes = changes
        self._journal = journal if journal is not None else Journal(1, enabled=False)
        self.options = options
        self.created_at = created_at
        # What one front keeps about the entity and the engine never reads (the administration endpoint's
        # stored-not-enforced fields), and when a front last changed the entity.
        self.extensions: dict[str, Any] = {}
        self.updated_at: float | None = None
        self.dead_letter = dead_letter
        self.is_dead_letter = name.endswith(DEAD_LETTER_SUFFIX)
        self._notify = notify
        self._lock_seconds = options.lock_duration.total_seconds()
        self._messages: dict[int, BrokerMessage] = {}
        self._order: SortedList = SortedList()
        self._available: list[int] = []
        self._sessions: dict[str, _Session] = {}
        self._acceptable: list[tuple[int, str]] = []
        self._locks: dict[str, int] = {}
        self._lock_expiry: list[tuple[float, str]] = []
        self._session_expiry: list[tuple[float, str, str]] = []
        self._scheduled: list[tuple[float, int]] = []
        self._ttl: list[tuple[float, int]] = []
        self._tombstones: dict[str, str] = {}
        self._tombstone_order: deque[tuple[float, str]] = deque()
        self._dedup: dict[str, int] = {}
        self._dedup_order: deque[tuple[float, str]] = deque()
        self._next_sequence = 1
        self.counts: dict[MessageState, int] = dict.fromkeys(MessageState, 0)
        self.size_bytes = 0
        # Set by the broker for auto-forwarding: messages that become available (or are dead-lettered) move on.
        self.forward: Forwarder | None = None
        self.forward_dead_lettered: Forwarder | None = None

    @staticmethod
    def _new_token() -> str:
        # Random, never derived from another token: holding one lock tells nothing about anyone else's.
        return new_lock_token()

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        """Apply everything that became due by ``now``: scheduled messages, lost locks, expired TTLs."""
        woke = False
        scheduled = self._scheduled
        while scheduled and scheduled[0][0] <= now:
            _, seq = heapq.heappop(scheduled)
            message = self._messages.get(seq)
            if message is not None and message.state is MessageState.SCHEDULED:
                message.enqueued_time = message.scheduled_enqueue_time or now
                self._set_expiry(message)
                self._make_available(message, now)
                woke = True
        expiry = self._lock_expiry
        while expiry and expiry[0][0] <= now:
            until, token = heapq.heappop(expiry)
            locked_seq = self._locks.get(token)
            if locked_seq is None:
                continue
            message = self._messages[locked_seq]
            if message.locked_until != until:
                continue
            self._journal.record(JournalKind.LOCK_LOST, self.name, now, message, "lock expired")
            self._unlock(message, now, lost="message")
            woke = True
        sessions = self._session_expiry
        while sessions and sessions[0][0] <= now:
            until, session_id, holder = heapq.heappop(sessions)
            session = self._sessions.get(session_id)
            if session is None or session.holder != holder or session.locked_until != until:
                continue
            self._release_session(session, now, lost=True)
            woke = True
        ttl = self._ttl
        while ttl and ttl[0][0] <= now:
            expires_at, seq = heapq.heappop(ttl)
            message = self._messages.get(seq)
            if (
                message is not None
                and message.state is MessageState.AVAILABLE
                and message.expires_at == expires_at
            ):
                self._expire(message, now)
        if woke:
            self._notify(self.name)

    def next_due(self) -> float | None:
        """The earliest time at which something may become receivable without anyone acting."""
        candidates = [heap[0][0] for heap in (self._scheduled, self._lock_expiry, self._session_expiry) if heap]
        return min(candidates) if candidates else None

    # ------------------------------------------------------------------ send

    def check_send(self, messages: Iterable[BrokerMessage], max_message_size: int, now: float) -> None:
        """Raise before anything is stored, so a batch is all or nothing."""
        extra = 0
        for message in messages:
            check_portable(message, now)
            message.size = message_size(message)
            if message.size > max_message_size:
                raise MessageTooLargeError(message.size, max_message_size)
            if self.options.requires_session and not message.session_id and not self.is_dead_letter:
                raise SessionRequiredError(
                    f"queue '{self.name}' requires sessions: every message needs a session id"
                )
            extra += message.size
        limit = self.options.max_size_bytes
        if limit is not None and self.size_bytes + extra > limit:
            raise QuotaExceededError(
                f"queue '{self.name}' is full: {self.size_bytes} of {limit} bytes used, "
                f"{extra} more requested",
                details={"queue": self.name, "size_bytes": self.size_bytes, "max_size_bytes": limit},
            )

    def check_copy(self, message: BrokerMessage, max_message_size: int) -> None:
        """:meth:`check_send` for one topic copy whose ``size`` is already known (fan-out's hot path)."""
        if message.size > max_message_size:
            raise MessageTooLargeError(message.size, max_message_size)
        if self.options.requires_session and not message.session_id:
            raise SessionRequiredError(
                f"subscription '{self.name}' requires sessions: this message has no session id"
            )
        limit = self.options.max_size_bytes
        if limit is not None and self.size_bytes + message.size > limit:
            raise QuotaExceededError(
                f"'{self.name}' is full: {self.size_bytes} of {limit} bytes used",
                details={"queue": self.name, "size_bytes": self.size_bytes, "max_size_bytes": limit},
            )

    def add(
        self, message: BrokerMessage, now: float, kind: JournalKind = JournalKind.SENT, *, deduplicate: bool = True
    ) -> int:
        """Store a checked message; returns its sequence number (the original's, for a duplicate). ``deduplicate``
        False stores it even if its id is in the duplicate-detection window (a resubmitted dead letter)."""
        if message.sequence_number:
            # Already stored once (a caller passed the same object twice): keep an independent copy.
            message = message.snapshot()
        window = self.options.duplicate_detection_window
        changes = self._changes
        if deduplicate and window is not None and message.message_id is not None:
            self._forget_old_ids(now - window.total_seconds())
            duplicate_of = self._dedup.get(message.message_id)
            if duplicate_of is not None:
                return duplicate_of
            self._dedup[message.message_id] = self._next_sequence
            self._dedup_order.append((now, message.message_id))
            if changes is not None:
                changes.remembered(self, message.message_id, self._next_sequence, now)
        seq = self._next_sequence
        self._next_sequence += 1
        message.sequence_number = seq
        if changes is not None:
            changes.added(self, seq)
        message.delivery_count = message.delivery_count if self.is_dead_letter else 0
        message.lock_token = None
        message.locked_until = None
        message.deferred = False
        self._messages[seq] = message
        self._order.add(seq)
        self.size_bytes += message.size
        due = message.scheduled_enqueue_time
        if due is not None and due > now and not self.is_dead_letter:
            message.state = MessageState.SCHEDULED
            message.enqueued_time = due
            self.counts[MessageState.SCHEDULED] += 1
            heapq.heappush(self._scheduled, (due, seq))
            self._journal.record(JournalKind.SCHEDULED, self.name, now, message)
            return seq
        message.enqueued_time = now
        message.state = MessageState.SCHEDULED  # counted out again by _make_available
        self.counts[MessageState.SCHEDULED] += 1
        if not self.is_dead_letter:
            self._journal.record(kind, self.name, now, message)
        self._set_expiry(message)
        self._make_available(message, now)
        return seq

    def cancel_scheduled(self, sequence_numbers: Iterable[int], now: float = 0.0) -> None:
        for seq in sequence_numbers:
            message = self._messages.get(seq)
            if message is None or message.state is not MessageState.SCHEDULED:
                raise MessageNotFoundError(
                    f"queue '{self.name}' has no scheduled message with sequence number {seq}",
                    details={"queue": self.name, "sequence_number": seq},
                )
        for seq in sequence_numbers:
            self._journal.record(JournalKind.CANCELLED, self.name, now, self._messages[seq])
            self._remove(self._messages[seq])

    # ------------------------------------------------------------------ receive

    def check_receiver(self) -> None:
        """Raise SessionRequiredError when a receiver that holds no session may not read this entity."""
        if self.options.requires_session and not self.is_dead_letter:
            raise SessionRequiredError(
                f"queue '{self.name}' requires sessions: accept a session to receive from it"
            )

    def receive(self, max_count: int, now: float, *, delete: bool = False) -> list[BrokerMessage]:
        self.check_receiver()
        return self._take(self._available, max_count, now, delete=delete, session=None)

    def _take(
        self,
        heap: list[int],
        max_count: int,
        now: float,
        *,
        delete: bool,
        session: _Session | None,
    ) -> list[BrokerMessage]:
        taken: list[BrokerMessage] = []
        messages = self._messages
        while heap and len(taken) < max_count:
            seq = heapq.heappop(heap)
            message = messages.get(seq)
            if message is None or message.state is not MessageState.AVAILABLE:
                continue
            if message.expires_at is not None and message.expires_at <= now:
                self._expire(message, now)
                continue
            message.delivery_count += 1
            if delete:
                taken.append(message)
                self._remove(message)
                self._journal.record(JournalKind.RECEIVED_AND_DELETED, self.name, now, message)
                continue
            self._lock(message, session, now)
            self._journal.record(JournalKind.DELIVERED, self.name, now, message)
            taken.append(message.snapshot())
        return taken

    def _lock(self, message: BrokerMessage, session: _Session | None, now: float) -> None:
        token = self._new_token()
        self._move(message, MessageState.LOCKED)
        message.lock_token = token
        self._locks[token] = message.sequence_number
        if session is not None:
            message.locked_until = session.locked_until
            session.in_flight.add(message.sequence_number)
        else:
            until = now + self._lock_seconds
            message.locked_until = until
            heapq.heappush(self._lock_expiry, (until, token))

    def receive_deferred(
        self, sequence_numbers: Iterable[int], now: float, session_id: str | None, session_token: str | None
    ) -> list[BrokerMessage]:
        session = self._held_session(session_id, session_token) if session_id is not None else None
        seqs = list(sequence_numbers)
        for seq in seqs:
            message = self._messages.get(seq)
            if message is None or message.state is not MessageState.DEFERRED:
                raise MessageNotFoundError(
                    f"queue '{self.name}' has no deferred message with sequence number {seq}",
                    details={"queue": self.name, "sequence_number": seq},
                )
            if self.options.requires_session and message.session_id != session_id:
                raise SessionRequiredError(
                    f"deferred message {seq} belongs to session {message.session_id!r}: "
                    "receive it through that session"
                )
        taken = []
        for seq in seqs:
            message = self._messages[seq]
            message.delivery_count += 1
            self._lock(message, session, now)
            self._journal.record(JournalKind.DELIVERED, self.name, now, message)
            taken.append(message.snapshot())
        return taken

    # ------------------------------------------------------------------ settle

    def _locked(self, token: str) -> BrokerMessage:
        seq = self._locks.get(token)
        if seq is None:
            why = self._tombstones.get(token)
            if why == "session":
                raise SessionLockLostError(
                    f"the session lock for this message on queue '{self.name}' was lost or released; "
                    "the message was returned to its session and will be delivered again",
                    details={"queue": self.name, "lock_token": token},
                )
            reason = {
                "message": "its lock expired; the message was returned to the queue",
                "settled": "it was already settled",
            }.get(why or "", "the lock token is unknown (already settled, expired, or never issued)")
            raise MessageLockLostError(
                f"cannot settle message on queue '{self.name}': {reason}",
                details={"queue": self.name, "lock_token": token},
            )
        return self._messages[seq]

    def complete(self, token: str, now: float) -> None:
        message = self._locked(token)
        self._journal.record(JournalKind.COMPLETED, self.name, now, message)
        self._drop_lock(message, "settled", now)
        self._remove(message)

    def abandon(self, token: str, now: float, properties: dict[str, Any] | None = None) -> None:
        message = self._locked(token)
        if properties:
            check_portable_properties(properties)  # the same poison-value rule as a send
            message.application_properties.update(properties)
            if self._changes is not None:
                self._changes.added(self, message.sequence_number)
        self._journal.record(JournalKind.ABANDONED, self.name, now, message)
        self._unlock(message, now, lost=None)
        self._notify(self.name)

    def release(self, token: str, now: float) -> None:
        """Give a message back as if it had never been delivered (AMQP ``released``: the receiver did not ask
        for it or never looked at it), so the delivery does not count towards max delivery."""
        message = self._locked(token)
        message.delivery_count = max(0, message.delivery_count - 1)
        self._journal.record(JournalKind.RELEASED, self.name, now, message)
        self._unlock(message, now, lost=None)
        self._notify(self.name)

    def defer(self, token: str, now: float, properties: dict[str, Any] | None = None) -> int:
        message = self._locked(token)
        if properties:
            check_portable_properties(properties)  # the same poison-value rule as a send
            message.application_properties.update(properties)
            if self._changes is not None:
                self._changes.added(self, message.sequence_number)
        self._drop_lock(message, "settled", now)
        message.deferred = True
        self._move(message, MessageState.DEFERRED)
        self._journal.record(JournalKind.DEFERRED, self.name, now, message)
        return message.sequence_number

    def dead_letter_message(
        self,
        token: str,
        now: float,
        reason: str | None,
        description: str | None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        if self.dead_letter is None:
            raise UnsupportedOperationError(
                f"'{self.name}' is a dead-letter queue: its messages cannot be dead-lettered again; "
                "complete them or resubmit them to their queue"
            )
        message = self._locked(token)
        if properties:
            check_portable_properties(properties)  # the same poison-value rule as a send
            message.application_properties.update(properties)
            if self._changes is not None:
                self._changes.added(self, message.sequence_number)
        self._drop_lock(message, "settled", now)
        self._to_dead_letter(message, now, reason, description)

    def restore(self, message: BrokerMessage, now: float) -> None:
        """Put back a message taken in receive-and-delete mode whose delivery reached nobody: under its own sequence
        number (so order and FIFO per session hold), the delivery uncounted."""
        seq = message.sequence_number
        if seq in self._messages or seq <= 0:
            return
        message = message.snapshot()
        message.delivery_count = max(0, message.delivery_count - 1)
        message.lock_token = None
        message.locked_until = None
        message.state = MessageState.SCHEDULED  # counted out again by _make_available
        self.counts[MessageState.SCHEDULED] += 1
        self._messages[seq] = message
        self._order.add(seq)
        self.size_bytes += message.size
        if self._changes is not None:
            self._changes.added(self, seq)
        if message.expires_at is not None:
            heapq.heappush(self._ttl, (message.expires_at, seq))
        self._make_available(message, now)
        self._notify(self.name)

    def set_aside(self, message: BrokerMessage, now: float, description: str) -> None:
        """A front took ``message`` but cannot encode it for its client. Dead-letter it with a reason saying why
        (from a dead-letter queue: give it back for a front that can); never lose it, never let it block others."""
        token = message.lock_token
        if token is not None and self._locks.get(token) == message.sequence_number:
            if self.dead_letter is None:
                self.release(token, now)
            else:
                self.dead_letter_message(token, now, UNENCODABLE_REASON, description)
            return
        if message.sequence_number in self._messages:
            return  # still stored and not ours to move (a peek)
        if self.dead_letter is None:
            self.restore(message, now)
        else:  # taken in receive-and-delete mode: the front's copy is the only one left
            self._to_dead_letter(message.snapshot(), now, UNENCODABLE_REASON, description)

    def renew_lock(self, token: str, now: float) -> float:
        message = self._locked(token)
        if message.session_id is not None and self.options.requires_session:
            session = self._sessions[message.session_id]
            return self._renew_session(session, now)
        until = now + self._lock_seconds
        message.locked_until = until
        heapq.heappush(self._lock_expiry, (until, token))
        if self._changes is not None:
            self._changes.changed(self, message.sequence_number)
        return until

    # ------------------------------------------------------------------ sessions

    def accept_session(self, session_id: str | None, now: float) -> SessionLease | None:
        if not self.options.requires_session:
            raise SessionRequiredError(f"queue '{self.name}' does not have sessions enabled")
        if session_id is None:
            session = self._next_acceptable()
            if session is None:
                return None
        else:
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = _Session(session_id)
            elif session.holder is not None:
                raise SessionCannotBeLockedError(
                    f"session '{session_id}' of queue '{self.name}' is locked by another receiver",
                    details={"queue": self.name, "session_id": session_id},
                )
        session.holder = self._new_token()
        until = self._renew_session(session, now)
        self._journal.record_session(JournalKind.SESSION_ACCEPTED, self.name, now, session.session_id, until)
        return SessionLease(self.name, session.session_id, session.holder, until)

    def _next_acceptable(self) -> _Session | None:
        while self._acceptable:
            _, session_id = heapq.heappop(self._acceptable)
            session = self._sessions.get(session_id)
            if session is None:
                continue
            session.queued_for_accept = False
            if session.holder is None and session.available:
                return session
        return None

    def _held_session(self, session_id: str | None, token: str | None) -> _Session:
        session = self._sessions.get(session_id or "")
        if session is None or token is None or session.holder != token:
            raise SessionLockLostError(
                f"the lock on session {session_id!r} of queue '{self.name}' is not held by this receiver "
                "(it expired, was released, or was never taken)",
                details={"queue": self.name, "session_id": session_id},
            )
        return session

    def session_receive(
        self, session_id: str, token: str, max_count: int, now: float, *, delete: bool = False
    ) -> list[BrokerMessage]:
        session = self._held_session(session_id, token)
        return self._take(session.available, max_count, now, delete=delete, session=session)

    def renew_session_lock(self, session_id: str, token: str, now: float) -> float:
        return self._renew_session(self._held_session(session_id, token), now)

    def _renew_session(self, session: _Session, now: float) -> float:
        until = now + self._lock_seconds
        session.locked_until = until
        assert session.holder is not None
        heapq.heappush(self._session_expiry, (until, session.session_id, session.holder))
        for seq in session.in_flight:
            self._messages[seq].locked_until = until
        return until

    def release_session(self, session_id: str, token: str, now: float) -> None:
        self._release_session(self._held_session(session_id, token), now, lost=False)
        self._notify(self.name)

    def get_session_state(self, session_id: str, token: str) -> bytes | None:
        return self._held_session(session_id, token).state

    def set_session_state(self, session_id: str, token: str, state: bytes | None, now: float | None = None) -> None:
        session = self._held_session(session_id, token)
        session.state = state
        if now is not None:
            session.state_updated_at = now
        if self._changes is not None:
            self._changes.session(self, session_id)

    def session_locked_until(self, session_id: str, token: str) -> float:
        return self._held_session(session_id, token).locked_until

    def _release_session(self, session: _Session, now: float, *, lost: bool) -> None:
        holder = session.holder
        session.holder = None
        self._journal.record_session(
            JournalKind.SESSION_LOST if lost else JournalKind.SESSION_RELEASED, self.name, now, session.session_id
        )
        for seq in sorted(session.in_flight):
            message = self._messages[seq]
            assert message.lock_token is not None
            self._journal.record(
                JournalKind.LOCK_LOST, self.name, now, message, "session lock lost" if lost else "session released"
            )
            self._unlock(message, now, lost="session")
        session.in_flight.clear()
        if holder is not None:
            self._tombstone(holder, "session", now)
        self._offer_session(session)
        self._maybe_forget_session(session)

    def _offer_session(self, session: _Session) -> None:
        if session.holder is None and session.available and not session.queued_for_accept:
            session.queued_for_accept = True
            heapq.heappush(self._acceptable, (session.available[0], session.session_id))

    def _maybe_forget_session(self, session: _Session) -> None:
        if (
            session.holder is None
            and not session.available
            and not session.in_flight
            and session.state is None
            and not session.queued_for_accept
        ):
            self._sessions.pop(session.session_id, None)

    def sessions(self) -> list[SessionSnapshot]:
        return [
            SessionSnapshot(
                session_id=s.session_id,
                locked=s.holder is not None,
                locked_until=s.locked_until if s.holder is not None else None,
                available_count=sum(
                    1
                    for seq in s.available
                    if (m := self._messages.get(seq)) is not None and m.state is MessageState.AVAILABLE
                ),
                in_flight_count=len(s.in_flight),
                has_state=s.state is not None,
                state_updated_at=s.state_updated_at,
            )
            for s in self._sessions.values()
        ]

    # ------------------------------------------------------------------ reading

    def peek(self, from_sequence: int, max_count: int, session_id: str | None = None) -> list[BrokerMessage]:
        found = []
        for seq in self._order.irange(minimum=from_sequence):
            message = self._messages[seq]
            if session_id is not None and message.session_id != session_id:
                continue
            found.append(message.snapshot())
            if len(found) >= max_count:
                break
        return found

    def delete(self, sequence_number: int, now: float) -> None:
        """Remove one message that nobody holds (a person cleaning up by hand)."""
        message = self._messages.get(sequence_number)
        if message is None:
            raise MessageNotFoundError(
                f"'{self.name}' has no message with sequence number {sequence_number}",
                details={"queue": self.name, "sequence_number": sequence_number},
            )
        if message.state is MessageState.LOCKED:
            raise MessageLockedError(
                f"message {sequence_number} of '{self.name}' is locked by a receiver until it settles or its lock "
                "expires; delete it after that",
                details={"queue": self.name, "sequence_number": sequence_number},
            )
        self._journal.record(JournalKind.DELETED, self.name, now, message)
        self._remove(message)

    def unlocked(self, sequence_numbers: Iterable[int] | None) -> list[BrokerMessage]:
        """The named messages (or every one), all of them held by nobody; raises naming the first that is not."""
        if sequence_numbers is None:
            return [m for seq in self._order if (m := self._messages[seq]).state is not MessageState.LOCKED]
        chosen = []
        for seq in sequence_numbers:
            message = self._messages.get(seq)
            if message is None or message.state is MessageState.LOCKED:
                raise MessageNotFoundError(
                    f"'{self.name}' has no unlocked message with sequence number {seq}",
                    details={"queue": self.name, "sequence_number": seq},
                )
            chosen.append(message)
        return chosen

    def remove(self, messages: Iterable[BrokerMessage]) -> None:
        for message in messages:
            self._remove(message)

    def busy(self, now: float, grace: float) -> list[str]:
        """Why this entity is not idle: something receivable, locked, or scheduled within ``grace`` seconds."""
        reasons = []
        if self.counts[MessageState.AVAILABLE]:
            reasons.append(f"{self.counts[MessageState.AVAILABLE]} receivable")
        if self.counts[MessageState.LOCKED]:
            reasons.append(f"{self.counts[MessageState.LOCKED]} locked (being processed)")
        scheduled = self._scheduled
        while scheduled:
            due, seq = scheduled[0]
            message = self._messages.get(seq)
            if message is not None and message.state is MessageState.SCHEDULED and message.enqueued_time == due:
                if due <= now + grace:
                    reasons.append(f"a scheduled message is due in {max(due - now, 0.0):.3f}s")
                break
            heapq.heappop(scheduled)  # stale: cancelled or already enqueued
        return reasons

    def purge(self, now: float = 0.0) -> int:
        count = len(self._messages)
        self._journal.record_entity(JournalKind.PURGED, self.name, now, f"{count} messages")
        for message in list(self._messages.values()):
            self._remove(message)
        if self._changes is not None:
            for session_id in self._sessions:
                self._changes.session(self, session_id)
        self._sessions.clear()
        self._acceptable.clear()
        return count

    # ------------------------------------------------------------------ a data directory

    @property
    def next_sequence(self) -> int:
        return self._next_sequence

    def stored(self, sequence_number: int) -> BrokerMessage | None:
        """The live record of a message (not a copy: for a store to write), or None once it is gone."""
        return self._messages.get(sequence_number)

    def stored_session(self, session_id: str) -> tuple[bytes, float | None] | None:
        """A session's state and when it was set, or None when it has none."""
        session = self._sessions.get(session_id)
        if session is None or session.state is None:
            return None
        return session.state, session.state_updated_at

    def load(
        self,
        next_sequence: int,
        messages: Iterable[BrokerMessage],
        sessions: Iterable[tuple[str, bytes, float | None]],
        remembered: Iterable[tuple[str, int, float]],
    ) -> None:
        """Put back what a data directory kept, each message in the state it was saved in (an empty entity only).

        Locks come back with their deadlines. A session lock belongs to a receiver's link, which a restart has
        closed: call :meth:`lose_session_locks` once everything is loaded."""
        assert not self._messages, "load() fills an empty entity"
        self._next_sequence = next_sequence
        for session_id, state, updated_at in sessions:
            self._sessions[session_id] = _Session(session_id, state=state, state_updated_at=updated_at)
        for message_id, seq, at in sorted(remembered, key=lambda entry: entry[2]):
            self._dedup[message_id] = seq
            self._dedup_order.append((at, message_id))
        for message in sorted(messages, key=lambda m: m.sequence_number):
            seq = message.sequence_number
            self._messages[seq] = message
            self._order.add(seq)
            self.counts[message.state] += 1
            self.size_bytes += message.size
            if message.expires_at is not None:
                heapq.heappush(self._ttl, (message.expires_at, seq))
            if message.state is MessageState.AVAILABLE:
                self._queue_available(message)
            elif message.state is MessageState.SCHEDULED:
                heapq.heappush(self._scheduled, (message.enqueued_time, seq))
            elif message.state is MessageState.LOCKED:
                assert message.lock_token is not None and message.locked_until is not None
                self._locks[message.lock_token] = seq
                if message.session_id is not None and self.options.requires_session:
                    session = self._sessions.get(message.session_id)
                    if session is None:
                        session = self._sessions[message.session_id] = _Session(message.session_id)
                    session.in_flight.add(seq)
                    session.holder = session.holder or self._new_token()
                else:
                    heapq.heappush(self._lock_expiry, (message.locked_until, message.lock_token))
        for session in self._sessions.values():
            self._offer_session(session)

    def lose_session_locks(self, now: float) -> None:
        """A restart closed every link: each session lock is lost, its messages go back (or to the dead-letter
        queue, by the max-delivery rule) exactly as when a lock expires."""
        for session in list(self._sessions.values()):
            if session.holder is not None:
                self._release_session(session, now, lost=True)

    # ------------------------------------------------------------------ internals

    def _set_expiry(self, message: BrokerMessage) -> None:
        if self.is_dead_letter:
            message.expires_at = None
            return
        ttls = [t for t in (message.time_to_live, self._default_ttl()) if t is not None]
        if ttls:
            message.expires_at = message.enqueued_time + min(ttls)
            heapq.heappush(self._ttl, (message.expires_at, message.sequence_number))
        else:
            message.expires_at = None

    def _default_ttl(self) -> float | None:
        ttl = self.options.default_message_ttl
        return ttl.total_seconds() if ttl is not None else None

    def _move(self, message: BrokerMessage, state: MessageState) -> None:
        self.counts[message.state] -= 1
        self.counts[state] += 1
        message.state = state
        if self._changes is not None:
            self._changes.changed(self, message.sequence_number)

    def _make_available(self, message: BrokerMessage, now: float) -> None:
        if message.expires_at is not None and message.expires_at <= now:
            self._expire(message, now)
            return
        if self.forward is not None and not self.is_dead_letter:
            self._forward(message, now)
            return
        self._move(message, MessageState.AVAILABLE)
        self._queue_available(message)

    def _queue_available(self, message: BrokerMessage) -> None:
        seq = message.sequence_number
        if message.session_id is not None and self.options.requires_session:
            session = self._sessions.get(message.session_id)
            if session is None:
                session = self._sessions[message.session_id] = _Session(message.session_id)
            heapq.heappush(session.available, seq)
            self._offer_session(session)
        else:
            heapq.heappush(self._available, seq)

    def _forward(self, message: BrokerMessage, now: float) -> None:
        """Hand the message to the forwarding target first, then drop it here (never lost in between); if the
        target refuses it, it is dead-lettered here with the target's reason."""
        assert self.forward is not None
        failure = self.forward(message.snapshot(), now)
        if failure is None:
            self._remove(message)
        elif self.dead_letter is not None:
            self._to_dead_letter(message, now, failure[0], failure[1])
        else:  # pragma: no cover - a dead-letter queue never forwards on receipt
            self._remove(message)

    def _drop_lock(self, message: BrokerMessage, why: str, now: float) -> None:
        token = message.lock_token
        if token is not None:
            del self._locks[token]
            self._tombstone(token, why, now)
        message.lock_token = None
        message.locked_until = None
        if message.session_id is not None and self.options.requires_session:
            session = self._sessions.get(message.session_id)
            if session is not None:
                session.in_flight.discard(message.sequence_number)

    def _unlock(self, message: BrokerMessage, now: float, *, lost: str | None) -> None:
        """Return a locked message to where it came from, or to the dead-letter queue if it ran out of tries."""
        self._drop_lock(message, lost or "settled", now)
        if self.dead_letter is not None and message.delivery_count >= self.options.max_delivery_count:
            self._to_dead_letter(
                message,
                now,
                MAX_DELIVERY_REASON,
                f"Message could not be consumed after {self.options.max_delivery_count} delivery attempts.",
            )
            return
        if message.deferred:
            self._move(message, MessageState.DEFERRED)
            return
        self._make_available(message, now)

    def _expire(self, message: BrokerMessage, now: float) -> None:
        self._journal.record(JournalKind.EXPIRED, self.name, now, message)
        if self.options.dead_lettering_on_message_expiration and self.dead_letter is not None:
            self._to_dead_letter(message, now, TTL_EXPIRED_REASON, "The message expired and was dead lettered.")
        else:
            self._remove(message)

    def _to_dead_letter(
        self, message: BrokerMessage, now: float, reason: str | None, description: str | None
    ) -> None:
        """Store a copy in the dead-letter queue first, then remove the original: never lose it in between."""
        assert self.dead_letter is not None
        self._journal.record(JournalKind.DEAD_LETTERED, self.name, now, message, reason, description)
        copy_ = message.snapshot()
        copy_.dead_letter_reason = reason
        copy_.dead_letter_description = description
        copy_.dead_letter_source = self.name
        if reason is not None:
            copy_.application_properties["DeadLetterReason"] = reason
        if description is not None:
            copy_.application_properties["DeadLetterErrorDescription"] = description
        copy_.scheduled_enqueue_time = None
        copy_.time_to_live = None
        if self.forward_dead_lettered is not None and self.forward_dead_lettered(copy_.snapshot(), now) is None:
            self._remove(message)
            return
        self.dead_letter._store_dead_lettered(copy_, now)
        self._remove(message)

    def store_dead_lettered(
        self, message: BrokerMessage, now: float, reason: str | None, description: str | None
    ) -> None:
        """Put a message that never reached this entity straight into its dead-letter queue (a filter that
        failed to evaluate, a copy that this subscription cannot hold)."""
        assert self.dead_letter is not None
        message.sequence_number = 0
        message.state = MessageState.AVAILABLE
        message.dead_letter_reason = reason
        message.dead_letter_description = description
        message.dead_letter_source = self.name
        if reason is not None:
            message.application_properties["DeadLetterReason"] = reason
        if description is not None:
            message.application_properties["DeadLetterErrorDescription"] = description
        message.scheduled_enqueue_time = None
        message.time_to_live = None
        self.dead_letter._store_dead_lettered(message, now)

    def _store_dead_lettered(self, message: BrokerMessage, now: float) -> None:
        self.add(message, now)
        self._notify(self.name)

    def _remove(self, message: BrokerMessage) -> None:
        seq = message.sequence_number
        if self._messages.pop(seq, None) is None:
            return
        if self._changes is not None:
            self._changes.changed(self, seq)
        self._order.remove(seq)
        self.counts[message.state] -= 1
        self.size_bytes -= message.size
        if message.lock_token is not None:
            self._locks.pop(message.lock_token, None)
        if message.session_id is not None and self.options.requires_session:
            session = self._sessions.get(message.session_id)
            if session is not None:
                session.in_flight.discard(seq)
                self._maybe_forget_session(session)

    def _tombstone(self, token: str, why: str, now: float) -> None:
        self._tombstones[token] = why
        self._tombstone_order.append((now, token))
        horizon = now - _TOMBSTONE_SECONDS
        order = self._tombstone_order
        while order and (order[0][0] < horizon or len(order) > _TOMBSTONE_MAX):
            _, old = order.popleft()
            self._tombstones.pop(old, None)

    def _forget_old_ids(self, horizon: float) -> None:
        order = self._dedup_order
        if order and order[0][0] < horizon and self._changes is not None:
            self._changes.forgot(self, horizon)
        while order and order[0][0] < horizon:
            _, message_id = order.popleft()
            self._dedup.pop(message_id, None)
