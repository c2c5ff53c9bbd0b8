"""``DeadLetterManager``: look at, resubmit, purge and summarise a queue's dead letters, on any provider that has
dead-letter queues (``capabilities.dead_letter``), through the client and the port only.

Resubmitting never loses a message: the copy is sent to the source queue first (same session, same body,
attributes and content type); only when that send succeeded is the dead-letter copy completed. If the send
fails, the dead-letter copy is abandoned (it stays); if the completion fails after a successful send, the message
exists twice (once resubmitted, once still dead-lettered) and the failure says so. Duplicates are possible, loss
is not.

By default a resubmitted message gets a new message id and an attribute ``queue_runtime.original_message_id``:
duplicate detection (SQS FIFO's deduplication id, Service Bus duplicate detection) would otherwise drop a
resubmission sent within its window as a duplicate of the original, after which completing the dead-letter copy
would lose the message. ``keep_message_id=True`` keeps the id where you know no such window applies.

Reading dead letters peeks where the provider can (``capabilities.peek``); elsewhere (SQS) it receives them,
holds them to the end of the scan and abandons them again, which counts as a receive on the dead-letter queue.
On an SQS FIFO dead-letter queue, held messages block the rest of their message group, so one scan reaches at most
one receive batch (10) per group; scan again for more.
"""

from __future__ import annotations

import builtins
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ._client import QueueClient
from ._identifiers import MessageId, QueueName, SessionId
from ._messages import PeekedMessage, ReceivedMessage
from .errors import MessageNotFoundError, QueueError, UnsupportedOperationError, ValidationError

__all__ = [
    "DeadLetterEntry",
    "DeadLetterManager",
    "DeadLetterSummary",
    "ResubmitFailure",
    "ResubmitResult",
    "error_type_of",
]

ORIGINAL_MESSAGE_ID = "queue_runtime.original_message_id"
_ERROR_TYPE = re.compile(r"\[([A-Za-z_][\w.]{0,127})\]")


def error_type_of(description: str | None) -> str | None:
    """The error type a dead-letter description starts with (``"[ValueError] ..."``, as ``QueueProcessor``
    writes it), or None."""
    if not description:
        return None
    found = _ERROR_TYPE.match(description)
    return found.group(1) if found else None


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """A dead letter with its failure metadata. ``message`` is the message as it stands in the dead-letter queue."""

    message: PeekedMessage

    @property
    def message_id(self) -> MessageId:
        return self.message.message_id

    @property
    def session_id(self) -> SessionId | None:
        return self.message.session_id

    @property
    def reason(self) -> str | None:
        return self.message.dead_letter_reason

    @property
    def description(self) -> str | None:
        return self.message.dead_letter_description

    @property
    def error_type(self) -> str | None:
        return error_type_of(self.message.dead_letter_description)

    @property
    def delivery_count(self) -> int:
        return self.message.delivery_count

    @property
    def enqueued_time(self) -> datetime:
        return self.message.enqueued_time

    def __repr__(self) -> str:
        return (
            f"DeadLetterEntry(message_id={self.message_id!r}, session_id={self.session_id!r}, "
            f"reason={self.reason!r}, error_type={self.error_type!r}, delivery_count={self.delivery_count})"
        )


@dataclass(frozen=True, slots=True)
class ResubmitFailure:
    """One dead letter that was not resubmitted cleanly.

    ``stage="send"``: the send failed; the message is still in the dead-letter queue, untouched.
    ``stage="complete"``: the send succeeded (``resubmitted_id``) but the dead-letter copy could not be removed;
    the message now exists twice.
    """

    message_id: MessageId
    stage: Literal["send", "complete"]
    error: QueueError
    resubmitted_id: MessageId | None = None


@dataclass(frozen=True, slots=True)
class ResubmitResult:
    """What a resubmit did: ``resubmitted`` maps each dead letter's id to the id it was sent with."""

    resubmitted: dict[MessageId, MessageId] = field(default_factory=dict)
    failures: list[ResubmitFailure] = field(default_factory=list)

    @property
    def success_count(self) -> int:
        return len(self.resubmitted)

    @property
    def failure_count(self) -> int:
        return len(self.failures)


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    """Counts of dead letters, most frequent first. ``by_hour`` keys are UTC hours of the original enqueue time
    (dead-lettering keeps it); entries without a reason or error type count under ``"unknown"``."""

    total: int
    by_reason: dict[str, int]
    by_error_type: dict[str, int]
    by_hour: dict[datetime, int]


Predicate = Callable[[DeadLetterEntry], bool]
Action = Callable[[ReceivedMessage], Awaitable[bool]]  # True: settled by the action; False: hold it


def _limit(value: int | None, name: str = "limit") -> int | None:
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValidationError(name, f"must be a positive integer or None, got {value!r}")
    return value


class DeadLetterManager:
    """Manage the dead letters of any queue of ``client``.

    ``receive_timeout`` is how long a scan waits for more dead letters before it decides there are none left.
    """

    def __init__(
        self,
        client: QueueClient,
        *,
        receive_timeout: timedelta = timedelta(seconds=1),
        keep_message_id: bool = False,
    ) -> None:
        if not client.capabilities.dead_letter:
            raise UnsupportedOperationError(
                f"provider '{client.capabilities.provider}' has no dead-letter queues",
                details={"provider": client.capabilities.provider, "operation": "dead-letter management"},
            )
        self.client = client
        self.receive_timeout = receive_timeout
        self.keep_message_id = keep_message_id

    def __repr__(self) -> str:
        return f"DeadLetterManager(client={self.client!r})"

    # -- reading
    async def list(self, queue: str, *, limit: int | None = 100) -> list[DeadLetterEntry]:
        """Up to ``limit`` dead letters (``None``: all), oldest first, with their failure metadata."""
        name = QueueName(queue)
        _limit(limit)
        if self.client.capabilities.peek:
            return await self._peek_all(name, limit)
        entries: list[DeadLetterEntry] = []

        async def keep(message: ReceivedMessage) -> bool:
            entries.append(DeadLetterEntry(message))
            return False  # held to the end of the scan, so the next receive brings the next one

        await self._scan(name, lambda _: True, limit, keep)
        return entries

    async def _peek_all(self, queue: QueueName, limit: int | None) -> builtins.list[DeadLetterEntry]:
        entries: list[DeadLetterEntry] = []
        next_sequence: int | None = None
        page = 100
        while limit is None or len(entries) < limit:
            count = page if limit is None else min(page, limit - len(entries))
            found = await self.client.peek_messages(queue, count, next_sequence, dead_letter=True)
            if not found:
                break
            entries.extend(DeadLetterEntry(m) for m in found)
            next_sequence = found[-1].sequence_number + 1
        return entries

    async def peek(self, queue: str, message_id: str) -> DeadLetterEntry | None:
        """The dead letter whose message id is ``message_id``, or None."""
        wanted = MessageId(message_id)
        for entry in await self.list(queue, limit=None):
            if entry.message_id == wanted:
                return entry
        return None

    async def summary(self, queue: str, *, limit: int | None = 10_000) -> DeadLetterSummary:
        """Counts by reason, by error type and by hour over (up to ``limit``) dead letters."""
        entries = await self.list(queue, limit=limit)
        reasons = Counter(e.reason or "unknown" for e in entries)
        types = Counter(e.error_type or "unknown" for e in entries)
        hours = Counter(
            e.enqueued_time.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for e in entries
        )
        return DeadLetterSummary(
            total=len(entries),
            by_reason=dict(reasons.most_common()),
            by_error_type=dict(types.most_common()),
            by_hour=dict(sorted(hours.items())),
        )

    # -- resubmitting
    async def resubmit(self, queue: str, message_id: str) -> ResubmitResult:
        """Resubmit the one dead letter whose id is ``message_id``; ``MessageNotFoundError`` if there is none."""
        wanted = MessageId(message_id)
        result = await self.resubmit_where(queue, lambda e: e.message_id == wanted, limit=1)
        if not result.resubmitted and not result.failures:
            raise MessageNotFoundError(
                f"no dead letter with message id '{wanted}' in queue '{queue}'",
                details={"queue": queue, "message_id": wanted},
            )
        return result

    async def resubmit_where(self, queue: str, predicate: Predicate, *, limit: int | None = 100) -> ResubmitResult:
        """Resubmit the dead letters for which ``predicate(entry)`` is true, at most ``limit`` of them
        (default 100, the seed's bound; ``None`` for no bound). The others stay where they are."""
        name = QueueName(queue)
        _limit(limit)
        result = ResubmitResult()

        async def resubmit_one(message: ReceivedMessage) -> bool:
            await self._resubmit(name, message, result)
            return True

        await self._scan(name, predicate, limit, resubmit_one)
        return result

    async def resubmit_all(self, queue: str, *, limit: int | None = None) -> ResubmitResult:
        """Resubmit every dead letter of ``queue`` (at most ``limit``)."""
        return await self.resubmit_where(queue, lambda _: True, limit=limit)

    async def _resubmit(self, queue: QueueName, message: ReceivedMessage, result: ResubmitResult) -> None:
        if self.keep_message_id:
            outgoing = message.to_message()
        else:
            attributes = dict(message.attributes)
            attributes.setdefault(ORIGINAL_MESSAGE_ID, str(message.message_id))
            outgoing = message.to_message(message_id=MessageId.new(), attributes=attributes)
        try:
            sent = await self.client.send_message(queue, outgoing)
        except QueueError as exc:
            result.failures.append(ResubmitFailure(message.message_id, "send", exc))
            await self._let_go(message)
            return
        try:
            await self.client.complete_message(message)
        except QueueError as exc:
            result.failures.append(ResubmitFailure(message.message_id, "complete", exc, resubmitted_id=sent))
            await self._let_go(message)
            return
        result.resubmitted[message.message_id] = sent

    async def _let_go(self, message: ReceivedMessage) -> None:
        try:
            await self.client.abandon_message(message)
        except QueueError:
            pass  # the lock runs out by itself and the message is receivable again

    # -- purging
    async def purge(self, queue: str, *, where: Predicate | None = None, limit: int | None = None) -> int:
        """Delete dead letters for good (those matching ``where``, at most ``limit``); returns how many."""
        name = QueueName(queue)
        _limit(limit)
        purged = 0

        async def remove(message: ReceivedMessage) -> bool:
            nonlocal purged
            try:
                await self.client.complete_message(message)
            except QueueError:
                return True  # lock lost: the message is back in the dead-letter queue, not deleted
            purged += 1
            return True

        await self._scan(name, where or (lambda _: True), limit, remove)
        return purged

    # -- the one scan every operation shares
    async def _scan(self, queue: QueueName, predicate: Predicate, limit: int | None, act: Action) -> None:
        """Receive dead letters, ``act`` on those that match (up to ``limit``) and hold the others until the end,
        so that one scan sees each dead letter once; then abandon the held ones (they stay dead-lettered).

        Stops when a receive comes back empty, when ``limit`` matched, or when a receive brings only messages
        already seen (a held lock ran out)."""
        held: list[ReceivedMessage] = []
        seen: set[MessageId] = set()
        matched = 0
        batch_size = self.client.capabilities.max_batch_size
        try:
            while limit is None or matched < limit:
                batch = await self.client.receive_dead_letter_messages(queue, batch_size, self.receive_timeout)
                if not batch:
                    break
                fresh = [m for m in batch if m.message_id not in seen]
                for message in batch:
                    if message.message_id in seen:
                        await self._let_go(message)
                if not fresh:
                    break
                held.extend(fresh)  # until acted on: an exception in the predicate still releases them
                for message in fresh:
                    seen.add(message.message_id)
                    if (limit is None or matched < limit) and predicate(DeadLetterEntry(message)):
                        matched += 1
                        held.remove(message)
                        if not await act(message):
                            held.append(message)
        finally:
            for message in held:
                await self._let_go(message)
