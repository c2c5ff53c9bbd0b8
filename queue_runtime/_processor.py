"""``QueueProcessor``: run a handler over a queue with settlement, lock renewal and session ordering done for you.

- The handler returns normally: the message is completed.
- The handler raises :class:`DeadLetter` (or ``MessageDecodeError``): the message is dead-lettered at once with the
  reason and description given.
- The handler raises anything else: the failure is logged at WARNING with its traceback and the message is
  abandoned, so it comes back with ``delivery_count + 1``. On its last delivery (``delivery_count`` reached the
  queue's ``max_delivery_count``) the processor dead-letters it itself, with reason ``MaxDeliveryCountExceeded`` (the
  broker's) and the last failure (type and message, truncated) as the description, so whoever reads the dead-letter
  queue knows why the message died.
- ``stop()`` (or leaving ``async with``) is prompt: idle receives are given up at once, handlers in flight finish.
- While the handler runs, the message lock (or the session lock) is renewed before it runs out.
- On a session queue each worker accepts the next available session and handles its messages one at a time, in
  order, until the session stays empty for ``session_idle_timeout``; different sessions run in parallel.
- Session lifecycle limits: a worker lets go of a session after ``max_messages_per_session`` messages or
  ``max_session_duration``, so that one busy session cannot hold a worker forever. Before letting go it accepts
  the next session with messages, if there is one, so that another session progresses first.
- On a queue without sessions, a ``session_keys`` strategy (or the client's) orders messages inside this
  processor: messages with the same key are handled one at a time in the order received, others concurrently.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

from ._client import QueueClient, SessionClient
from ._identifiers import SessionId
from ._messages import ReceivedMessage
from ._session_keys import NoOrderingStrategy, SessionKeyStrategy
from .errors import (
    ConfigurationError,
    MessageDecodeError,
    MessageLockLostError,
    QueueError,
    SessionLockLostError,
    UnsupportedOperationError,
    ValidationError,
)

__all__ = ["DeadLetter", "ProcessorOptions", "QueueProcessor"]

logger = logging.getLogger("queue_runtime.processor")

Handler = Callable[[ReceivedMessage], Awaitable[None]]
T = TypeVar("T")

MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"  # the broker's own reason, so tools see one reason for both
DESCRIPTION_LIMIT = 1024


class DeadLetter(Exception):
    """Raise from a handler to dead-letter the message now instead of retrying it.

    ``error_type`` (by default the type name of the exception this one was raised ``from``) is written at the
    start of the dead-letter description as ``[ErrorType] description``, where
    :class:`~queue_runtime.DeadLetterManager` reads it back for its summary.
    """

    def __init__(self, reason: str, description: str | None = None, *, error_type: str | None = None) -> None:
        super().__init__(reason if description is None else f"{reason}: {description}")
        self.reason = reason
        self.description = description
        self.error_type = error_type

    def full_description(self) -> str | None:
        error_type = self.error_type
        if error_type is None and self.__cause__ is not None:
            error_type = type(self.__cause__).__name__
        if error_type is None:
            return self.description
        return f"[{error_type}] {self.description or ''}".rstrip()[:4096]


@dataclass(frozen=True)
class ProcessorOptions:
    """How a :class:`QueueProcessor` runs (docs/getting-started.md#processing-a-queue).

    - ``max_concurrency``: workers, i.e. messages (or sessions) handled at the same time.
    - ``sessions``: ``True``/``False`` for a session queue or not; ``None`` asks the queue (``get_queue``), which a
      provider without ``get_queue`` but with sessions cannot answer: set it there.
    - ``receive_timeout``: how long one receive (or session accept) waits before the worker asks again.
    - ``session_idle_timeout``: a worker releases its session after it stayed empty this long.
    - ``renew_locks``: renew the message (or session) lock while the handler runs.
    - ``max_session_duration`` and ``max_messages_per_session`` (the seed's session lifecycle limits; ``None`` for
      no limit) make a worker let go of a session; ``session_idle_timeout`` is the third limit, the idle time.
    - ``session_keys`` orders messages of a queue without sessions inside the processor (the client's strategy
      when not given).
    """

    max_concurrency: int = 1
    sessions: bool | None = None
    receive_timeout: timedelta = timedelta(seconds=1)
    session_idle_timeout: timedelta = timedelta(seconds=1)
    renew_locks: bool = True
    max_session_duration: timedelta | None = timedelta(hours=2)
    max_messages_per_session: int | None = 1000
    session_keys: SessionKeyStrategy | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValidationError("max_concurrency", "must be a positive integer")
        if self.max_messages_per_session is not None and (
            not isinstance(self.max_messages_per_session, int) or self.max_messages_per_session < 1
        ):
            raise ValidationError("max_messages_per_session", "must be a positive integer or None")
        if self.max_session_duration is not None and self.max_session_duration <= timedelta(0):
            raise ValidationError("max_session_duration", "must be a positive duration or None")
        if self.session_idle_timeout < timedelta(0) or self.receive_timeout < timedelta(0):
            raise ValidationError("session_idle_timeout", "timeouts must not be negative")
        if self.session_keys is not None and not isinstance(self.session_keys, SessionKeyStrategy):
            raise ValidationError("session_keys", "must be a SessionKeyStrategy or None")


class QueueProcessor:
    """Run ``handler`` over ``queue`` until stopped.

    Counters (messages, since start): ``completed`` (handler returned), ``abandoned`` (handler failed and the
    message goes back for another delivery), ``dead_lettered`` (by :class:`DeadLetter`, by ``MessageDecodeError``
    or after the last allowed delivery failed, on the processor's or the broker's side).
    """

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
        self.sessions_released_at_limit = 0
        self._monotonic = time.monotonic
        self._max_delivery_count: int | None = None

    @property
    def session_keys(self) -> SessionKeyStrategy | None:
        strategy = self.options.session_keys or self.client.session_keys
        return None if isinstance(strategy, NoOrderingStrategy) else strategy

    async def start(self) -> None:
        sessions = self.options.sessions
        try:
            properties = await self.client.get_queue(self.queue)
        except UnsupportedOperationError:
            # get_queue is optional for an adapter: without it the broker alone dead-letters after the last
            # delivery (its generic description), and only a provider with sessions needs to be told which kind
            # of queue this is.
            if sessions is None and self.client.capabilities.supports("sessions"):
                raise ConfigurationError(
                    f"QueueProcessor: provider {self.client.capabilities.provider!r} cannot read queue properties "
                    f"(no get_queue), so it cannot tell whether {self.queue!r} requires sessions: pass "
                    "ProcessorOptions(sessions=True) or ProcessorOptions(sessions=False)"
                ) from None
            sessions = bool(sessions)
        else:
            self._max_delivery_count = properties.options.max_delivery_count
            if sessions is None:
                sessions = properties.options.requires_session
        if sessions:
            workers = [self._session_worker for _ in range(self.options.max_concurrency)]
        elif self.session_keys is not None:
            workers = [self._keyed_worker]  # one receiver; it runs up to max_concurrency handlers
        else:
            workers = [self._worker for _ in range(self.options.max_concurrency)]
        self._tasks = [asyncio.create_task(worker(), name=f"queue-processor-{i}") for i, worker in enumerate(workers)]

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

    async def _unless_stopped(self, waiting: Awaitable[T | None]) -> T | None:
        """Await an idle receive or accept, giving it up as soon as ``stop()`` is called. What arrived just
        before the stop is still returned (and handled), so nothing is left locked."""
        task = asyncio.ensure_future(waiting)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return None
        return task.result()

    async def _worker(self) -> None:
        while not self._stopping.is_set():
            message = await self._unless_stopped(self.client.receive_message(self.queue, self.options.receive_timeout))
            if message is not None:
                await self._handle(message, None)

    async def _keyed_worker(self) -> None:
        """Receive one at a time; chain each message behind the previous one with the same key."""
        slots = asyncio.Semaphore(self.options.max_concurrency)
        tails: dict[SessionId, asyncio.Task[None]] = {}
        running: set[asyncio.Task[None]] = set()
        strategy = self.session_keys
        assert strategy is not None
        try:
            while not self._stopping.is_set():
                await slots.acquire()
                try:
                    message = await self._unless_stopped(
                        self.client.receive_message(self.queue, self.options.receive_timeout)
                    )
                except BaseException:
                    slots.release()
                    raise
                if message is None:
                    slots.release()
                    continue
                key = message.session_id or self._key_of(strategy, message)
                task = asyncio.create_task(self._handle_in_turn(message, tails.get(key) if key else None, slots))
                running.add(task)
                task.add_done_callback(running.discard)
                if key is not None:
                    tails[key] = task
                    task.add_done_callback(functools.partial(self._untail, tails, key))
        finally:
            await asyncio.gather(*running, return_exceptions=True)

    @staticmethod
    def _untail(tails: dict[SessionId, asyncio.Task[None]], key: SessionId, done: asyncio.Task[None]) -> None:
        if tails.get(key) is done:
            del tails[key]

    def _key_of(self, strategy: SessionKeyStrategy, message: ReceivedMessage) -> SessionId | None:
        try:
            return strategy.session_id(message)
        except QueueError as exc:
            # An invalid key orders nothing; the message is still handled (never blocked or dropped).
            logger.warning("no ordering key for message %s: %s", message.message_id, exc.code)
            return None

    async def _handle_in_turn(
        self, message: ReceivedMessage, previous: asyncio.Task[None] | None, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._handle(message, None, after=previous)
        finally:
            slots.release()

    def _limit_reached(self, started: float, handled: int) -> bool:
        limit = self.options.max_messages_per_session
        if limit is not None and handled >= limit:
            return True
        duration = self.options.max_session_duration
        return duration is not None and self._monotonic() - started >= duration.total_seconds()

    async def _session_worker(self) -> None:
        handover: SessionClient | None = None
        while not self._stopping.is_set():
            session, handover = handover, None
            if session is None:
                session = await self._unless_stopped(
                    self.client.try_accept_session(self.queue, None, self.options.receive_timeout)
                )
            if session is None:
                continue
            started, handled = self._monotonic(), 0
            try:
                while not self._stopping.is_set():
                    if self._limit_reached(started, handled):
                        handover = await self._next_session(session)
                        break
                    message = await self._unless_stopped(session.receive_message(self.options.session_idle_timeout))
                    if message is None:
                        break
                    await self._handle(message, session)
                    handled += 1
            except SessionLockLostError:
                logger.warning("lost the lock on session %s; another worker will resume it", session.session_id)
            finally:
                await session.close()
        if handover is not None:
            await handover.close()

    async def _next_session(self, current: SessionClient) -> SessionClient | None:
        """At a lifecycle limit: take the next session with messages while still holding ``current``, so the
        broker cannot hand ``current`` straight back; None if no other session is waiting."""
        self.sessions_released_at_limit += 1
        logger.info("session %s reached a lifecycle limit; releasing it", current.session_id)
        try:
            return await self.client.try_accept_session(self.queue, None, self.options.receive_timeout)
        except QueueError as exc:
            logger.info("could not take another session before releasing %s: %s", current.session_id, exc.code)
            return None

    async def _handle(
        self, message: ReceivedMessage, session: SessionClient | None, *, after: asyncio.Task[None] | None = None
    ) -> None:
        settle = session if session is not None else self.client
        renewer = asyncio.create_task(self._keep_lock(message, session)) if self.options.renew_locks else None
        try:
            if after is not None:
                await asyncio.gather(after, return_exceptions=True)
            await self.handler(message)
        except DeadLetter as instruction:
            await self._settle(settle.dead_letter_message(message, instruction.reason, instruction.full_description()))
            self.dead_lettered += 1
        except MessageDecodeError as exc:
            description = f"[MessageDecodeError] {exc}"[:1024]
            await self._settle(settle.dead_letter_message(message, "MessageDecodeError", description))
            self.dead_lettered += 1
        except Exception as exc:
            last = self._max_delivery_count is not None and message.delivery_count >= self._max_delivery_count
            logger.warning(
                "handler failed on message %s (delivery %d of %s)%s: %s",
                message.message_id,
                message.delivery_count,
                self._max_delivery_count or "?",
                ", dead-lettering it" if last else "",
                _failure(exc),
                exc_info=exc,
                extra={"queue_name": self.queue, "message_id": message.message_id},
            )
            if last and self.client.capabilities.dead_letter:
                # "[KeyError] handler failed on delivery 3: 'customer_id'": the type in brackets, as every
                # description this processor writes, so DeadLetterManager.summary() can count by error type.
                description = f"[{type(exc).__name__}] handler failed on delivery {message.delivery_count}"
                text = " ".join(str(exc).split())
                description += f": {text}" if text else ""
                await self._settle(settle.dead_letter_message(message, MAX_DELIVERY_REASON, _truncate(description)))
                self.dead_lettered += 1
            else:
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


def _failure(exc: BaseException) -> str:
    """``KeyError: 'customer_id'``: the type and the message, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _truncate(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
