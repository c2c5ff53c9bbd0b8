"""Sessions emulated on FIFO message groups: :class:`SqsSession`, what :meth:`SqsProvider.accept_session` returns."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..._identifiers import SessionId
from ..._messages import ReceiptHandle, ReceivedMessage
from ...errors import SessionLockLostError, ValidationError
from ...ports import SessionProvider
from .codec import wait_time_seconds
from .limits import MAX_BATCH
from .locks import _group_of, _Lock, _lock_of, _QueueInfo

if TYPE_CHECKING:
    from .provider import SqsProvider

__all__ = ["SqsSession"]


class SqsSession(SessionProvider):
    """An accepted session: the message group of the first message received, plus what else came of it.

    The "lock" is SQS' own FIFO rule: while any message of a group is in flight, no other receiver gets that
    group. It therefore lasts only while this session holds in-flight messages (buffered or delivered).
    """

    def __init__(
        self, provider: SqsProvider, info: _QueueInfo, session_id: SessionId, first: Sequence[ReceivedMessage]
    ) -> None:
        self.capabilities = provider.capabilities
        self.queue = info.name
        self._provider = provider
        self._info = info
        self._session_id = session_id
        self._group = _group_of(first[0]) if first else str(session_id)
        self._buffer: deque[ReceivedMessage] = deque()
        self._delivered: dict[int, ReceivedMessage] = {}
        self._to_release: list[ReceivedMessage] = []
        self._settled_event = asyncio.Event()
        self._closed = False
        self._lost = False
        self._adopt(first)

    def __repr__(self) -> str:
        return (
            f"SqsSession(queue={self.queue!r}, session_id={self._session_id!r}, buffered={len(self._buffer)})"
        )

    def _adopt(self, messages: Sequence[ReceivedMessage]) -> None:
        for message in messages:
            _lock_of(message.receipt_handle).session = self  # type: ignore[union-attr]
            self._buffer.append(message)

    def _unsettled(self) -> list[tuple[str, _Lock]]:
        pairs = [(m.receipt_handle.token, _lock_of(m.receipt_handle)) for m in self._buffer]
        pairs += [(m.receipt_handle.token, _lock_of(m.receipt_handle)) for m in self._delivered.values()]
        return [(token, lock) for token, lock in pairs if lock is not None and lock.state == "locked"]

    @property
    def session_id(self) -> SessionId:
        return self._session_id

    @property
    def locked_until(self) -> datetime | None:
        """The earliest visibility deadline among the session's in-flight messages; None if it holds none."""
        locks = self._unsettled()
        return datetime.fromtimestamp(min(lock.deadline for _, lock in locks), UTC) if locks else None

    def _check(self) -> None:
        if self._closed:
            raise SessionLockLostError(f"session {self._session_id!r} on queue '{self.queue}' was closed")
        if self._lost or any(time.time() >= lock.deadline for _, lock in self._unsettled()):
            self._lost = True
            raise SessionLockLostError(
                f"the lock on session {self._session_id!r} of queue '{self.queue}' expired: a message's "
                "visibility "
                "timeout ran out, so other receivers may have its group; accept a session again",
                details={"queue": self.queue, "session_id": self._session_id},
            )

    def _settled(self, lock: _Lock, *, abandoned: bool) -> None:
        """Called by the provider after one of this session's messages was settled."""
        self._delivered.pop(id(lock), None)
        if abandoned:
            # Keep the group's order: what was buffered behind the abandoned message goes back with it.
            self._to_release.extend(self._buffer)
            self._buffer.clear()
        self._settled_event.set()

    async def _flush_releases(self) -> None:
        pending, self._to_release = self._to_release, []
        if pending:
            await self._provider._release(pending, self.queue)

    def _deliver(self, count: int) -> list[ReceivedMessage]:
        taken: list[ReceivedMessage] = []
        while self._buffer and len(taken) < count:
            message = self._buffer.popleft()
            self._delivered[id(_lock_of(message.receipt_handle))] = message
            taken.append(message)
        return taken

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        await self._flush_releases()
        self._check()
        if self._buffer:
            return self._deliver(max_messages)
        deadline = time.monotonic() + max(0.0, timeout.total_seconds())
        while True:
            remaining = deadline - time.monotonic()
            if self._delivered:
                # SQS returns no more of this group while some of it is in flight: wait for a settle instead
                # of polling (polling would receive and release other groups' messages for nothing).
                self._settled_event.clear()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._settled_event.wait(), remaining)
                except TimeoutError:
                    return []
                await self._flush_releases()
                self._check()
                continue
            wait = wait_time_seconds(remaining, self._provider._wait_cap)
            found = await self._provider._poll(self._info, self._info.url, False, MAX_BATCH, wait)
            mine = [m for m in found if _group_of(m) == self._group]
            await self._provider._release([m for m in found if _group_of(m) != self._group], self.queue)
            if mine:
                self._adopt(mine)
                return self._deliver(max_messages)
            if wait == 0 or time.monotonic() >= deadline:
                return []

    def _own(self, receipt: ReceiptHandle) -> None:
        lock = _lock_of(receipt)
        if lock is not None and lock.session is not self:
            raise ValidationError("receipt", f"the message does not belong to session {self._session_id!r}")

    async def complete(self, receipt: ReceiptHandle) -> None:
        self._own(receipt)
        await self._provider.complete(receipt)

    async def abandon(self, receipt: ReceiptHandle) -> None:
        self._own(receipt)
        await self._provider.abandon(receipt)
        await self._flush_releases()

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        self._own(receipt)
        await self._provider.dead_letter(receipt, reason, description)

    async def renew_session_lock(self) -> datetime:
        """Extend the visibility of every in-flight message of the session together. With none in flight
        there is nothing SQS could hold: the current time is returned."""
        self._check()
        receipts = self._unsettled()
        if not receipts:
            return datetime.now(UTC)
        visibility = self._info.visibility
        started = time.time()
        failed = await self._provider._change_visibility(self.queue, receipts, visibility, strict=False)
        if failed:
            self._lost = True
            raise SessionLockLostError(
                f"the lock on session {self._session_id!r} of queue '{self.queue}' was lost: "
                f"{len(failed)} message(s) were no longer in flight",
                details={"queue": self.queue, "session_id": self._session_id},
            )
        for _, lock in receipts:
            lock.deadline = started + visibility
        return datetime.fromtimestamp(started + visibility, UTC)

    async def close(self) -> None:
        """Release every unsettled message of the session (buffered or delivered) with visibility 0."""
        if self._closed:
            return
        self._closed = True
        unsettled = [*self._to_release, *self._buffer, *self._delivered.values()]
        self._to_release, self._delivered = [], {}
        self._buffer.clear()
        live = [
            m
            for m in unsettled
            if (lock := _lock_of(m.receipt_handle)) is not None and lock.state == "locked"
        ]
        if live:
            await self._provider._release(live, self.queue)
