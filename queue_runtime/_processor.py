"""``QueueProcessor``: run a handler over a queue with settlement, lock renewal and session ordering done for you.

- The handler returns normally: the message is completed.
- The handler raises :class:`DeadLetter` (or ``MessageDecodeError``): the message is dead-lettered at once with the
  reason and description given.
- The handler raises anything else: the message is abandoned, so it comes back with ``delivery_count + 1`` and the
  broker dead-letters it after the queue's ``max_delivery_count`` (``MaxDeliveryCountExceeded``).
- While the handler runs, the message lock (or the session lock) is renewed before it runs out.
- On a session queue each worker accepts the next available session and handles its messages one at a time, in
  order, until the session stays empty for ``session_idle_timeout``; different sessions run in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from ._client import QueueClient, SessionClient
from ._messages import ReceivedMessage
from .errors import MessageDecodeError, MessageLockLostError, QueueError, SessionLockLostError

__all__ = ["DeadLetter", "ProcessorOptions", "QueueProcessor"]

logger = logging.getLogger("queue_runtime.processor")

Handler = Callable[[ReceivedMessage], Awaitable[None]]


class DeadLetter(Exception):
    """Raise from a handler to dead-letter the message now instead of retrying it."""

    def __init__(self, reason: str, description: str | None = None) -> None:
        super().__init__(reason if description is None else f"{reason}: {description}")
        self.reason = reason
        self.description = description


@dataclass(frozen=True)
class ProcessorOptions:
    max_concurrency: int = 1
    sessions: bool | None = None  # None: ask the queue (requires_session)
    receive_timeout: timedelta = timedelta(seconds=1)
    session_idle_timeout: timedelta = timedelta(seconds=1)
    renew_locks: bool = True


class QueueProcessor:
    def __init__(
        self, client: QueueClient, queue: str, handler: Handler, options: ProcessorOptions | None = None
    ) -> None:
        self.client = client
        self.queue = queue
        self.handler = handler
        self.options = options or ProcessorOptions()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.completed = 0
        self.abandoned = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        sessions = self.options.sessions
        if sessions is None:
            sessions = (await self.client.get_queue(self.queue)).options.requires_session
        worker = self._session_worker if sessions else self._worker
        self._tasks = [asyncio.create_task(worker(), name=f"queue-processor-{i}")
                       for i in range(self.options.max_concurrency)]

    async def stop(self) -> None:
        """Finish the messages in hand, then stop. Unstarted work stays in the queue."""
        self._stopping.set()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _worker(self) -> None:
        while not self._stopping.is_set():
            message = await self.client.receive_message(self.queue, self.options.receive_timeout)
            if message is not None:
                await self._handle(message, None)

    async def _session_worker(self) -> None:
        while not self._stopping.is_set():
            session = await self.client.try_accept_session(self.queue, None, self.options.receive_timeout)
            if session is None:
                continue
            try:
                while not self._stopping.is_set():
                    message = await session.receive_message(self.options.session_idle_timeout)
                    if message is None:
                        break
                    await self._handle(message, session)
            except SessionLockLostError:
                logger.warning("lost the lock on session %s; another worker will resume it", session.session_id)
            finally:
                await session.close()

    async def _handle(self, message: ReceivedMessage, session: SessionClient | None) -> None:
        settle = session if session is not None else self.client
        renewer = asyncio.create_task(self._keep_lock(message, session)) if self.options.renew_locks else None
        try:
            await self.handler(message)
        except DeadLetter as instruction:
            await self._settle(settle.dead_letter_message(message, instruction.reason, instruction.description))
            self.dead_lettered += 1
        except MessageDecodeError as exc:
            await self._settle(settle.dead_letter_message(message, "MessageDecodeError", str(exc)[:1024]))
            self.dead_lettered += 1
        except Exception as exc:
            logger.info(
                "handler failed on message %s (delivery %d): %s",
                message.message_id,
                message.delivery_count,
                type(exc).__name__,
                extra={"queue_name": self.queue, "message_id": message.message_id},
            )
            await self._settle(settle.abandon_message(message))
            self.abandoned += 1
        else:
            await self._settle(settle.complete_message(message))
            self.completed += 1
        finally:
            if renewer is not None:
                renewer.cancel()
                await asyncio.gather(renewer, return_exceptions=True)

    async def _settle(self, settling: Awaitable[None]) -> None:
        try:
            await settling
        except (MessageLockLostError, SessionLockLostError) as exc:
            # The broker already put the message back: it will be handled again.
            logger.warning("could not settle: %s", exc.message)

    async def _keep_lock(self, message: ReceivedMessage, session: SessionClient | None) -> None:
        expires = session.session_expires_at if session is not None else message.locked_until
        while expires is not None:
            now = datetime.now(UTC) if self.client.provider.clock is None else await self.client.clock.now()
            await asyncio.sleep(max((expires - now).total_seconds() / 2, 0.05))
            try:
                if session is not None:
                    expires = await session.renew_session_lock()
                else:
                    expires = await self.client.renew_message_lock(message)
            except QueueError as exc:
                logger.info("stopped renewing the lock of message %s: %s", message.message_id, exc.code)
                return
