"""The REST/JSON front: one handler per operation. Each parses, asks the fault injector, calls the Broker and
encodes; rules live in the engine. Errors propagate to ``http_errors.error_middleware`` (the one place that
writes error bodies)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web

from queue_runtime import QueueName
from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.errors import (
    BatchTooLargeError,
    MessageLockLostError,
    QueueError,
    UnsupportedOperationError,
)

from ._http import encode, no_content, parse, path_of, path_text, query_flag, queue_of
from .errors import error_body, error_response
from .keys import BROKER, FAULTS, SETTINGS, WAITER
from .wire import (
    AcceptSessionRequest,
    AcceptSessionResponse,
    CancelScheduledRequest,
    DeadLetterRequest,
    DeferResponse,
    LockedUntilResponse,
    PeekRequest,
    PurgeRequest,
    PurgeResponse,
    QueueListResponse,
    QueueOptionsIn,
    QueuePropertiesOut,
    ReceiveDeferredRequest,
    ReceiveRequest,
    ResubmitRequest,
    ScheduleRequest,
    SendMessage,
    SendRequest,
    SendResponse,
    SessionInfo,
    SessionListResponse,
    SessionOut,
    SessionReceiveRequest,
    SessionStateRequest,
    SessionStateResponse,
    SessionTokenRequest,
    SettleBatchRequest,
    SettleRequest,
    message_json,
)

__all__ = [
    "abandon", "accept_session", "cancel_scheduled", "complete", "complete_batch", "create_queue", "dead_letter",
    "defer", "delete_message", "delete_queue", "get_queue", "get_session_state", "list_queues", "list_sessions",
    "peek", "purge", "receive", "receive_deferred", "release_session", "renew_lock", "renew_session_lock",
    "resubmit_dead_letters", "schedule", "send", "session_receive", "set_session_state",
]


async def _before(request: web.Request, operation: str, queue: str | None) -> Broker:
    await request.app[FAULTS].before(operation, queue)
    return request.app[BROKER]


_UNENCODABLE = (TypeError, ValueError, OverflowError, OSError)  # what orjson and datetime raise on values they refuse


def _messages(
    found: Sequence[BrokerMessage] | None,
    taken_from: tuple[Broker, str] | None = None,
    set_aside: list[BrokerMessage] | None = None,
) -> web.Response:
    """The MessagesResponse schema, encoded without building models (the hot path of every receive).

    A message JSON cannot carry (the engine refuses what it knows at send; another front may store more) must not
    break the answer for the others: a received one is set aside through the engine (dead-lettered with the
    reason, and added to ``set_aside``), a peeked one is left out."""
    try:
        body = orjson.dumps({"messages": [message_json(m) for m in found or []]})
    except _UNENCODABLE:
        encoded = []
        for message in found or []:
            try:
                encoded.append(orjson.dumps(message_json(message)))
            except _UNENCODABLE as exc:
                if taken_from is not None:
                    broker, path = taken_from
                    broker.set_aside_unencodable(
                        path, message, f"the REST front cannot encode this message as JSON: {exc}"
                    )
                    if set_aside is not None:
                        set_aside.append(message)
        body = b'{"messages":[' + b",".join(encoded) + b"]}"
    return web.Response(body=body, content_type="application/json")


T = TypeVar("T")


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _long_poll(request: web.Request, path: str, attempt: Callable[[], T | None], timeout: float) -> T | None:
    """Wait for ``attempt`` like the waiter does, but never take anything for a client that went away (a killed
    process, a cancelled request, a timeout on its side): its connection is checked right before each attempt."""
    return await request.app[WAITER].wait_for(
        path, lambda: None if _client_gone(request) else attempt(), timeout
    )


async def _answer_or_undo(request: web.Request, response: web.Response, undo: Callable[[], None]) -> web.Response:
    """Write ``response`` now; if the client is gone by then, ``undo`` what was taken for it at once (messages back
    to the queue with their delivery uncounted, a session lock released) instead of leaving it to lock expiry, or
    losing it in receive-and-delete mode."""
    try:
        if _client_gone(request):
            raise ConnectionResetError("the client went away before its answer was written")
        await response.prepare(request)
        await response.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        undo()
        raise
    return response


def _give_back(
    broker: Broker, path: str, found: Sequence[BrokerMessage], *, delete: bool,
    set_aside: Sequence[BrokerMessage] = (),
) -> Callable[[], None]:
    def undo() -> None:
        if delete:  # what was set aside is in the dead-letter queue already: only the others go back
            aside = {id(message) for message in set_aside}
            broker.restore(path, [message for message in found if id(message) not in aside])
            return
        for message in found:
            if message.lock_token is not None:
                with contextlib.suppress(QueueError):  # settled or expired meanwhile: nothing to give back
                    broker.release(path, message.lock_token)

    return undo


def _check_batch(request: web.Request, count: int) -> None:
    limit = request.app[SETTINGS].max_batch_size
    if count > limit:
        raise BatchTooLargeError(count, limit)


# ---------------------------------------------------------------- queues


async def list_queues(request: web.Request) -> web.Response:
    broker = await _before(request, "list_queues", None)
    return encode(QueueListResponse(queues=[QueuePropertiesOut.of(broker.get_queue(n)) for n in broker.queue_names()]))


async def create_queue(request: web.Request) -> web.Response:
    queue = queue_of(request)
    options = (await parse(request, QueueOptionsIn)).to_options()
    broker = await _before(request, "create_queue", queue)
    return encode(QueuePropertiesOut.of(broker.create_queue(queue, options)), status=201)


async def get_queue(request: web.Request) -> web.Response:
    queue = queue_of(request)
    broker = await _before(request, "get_queue", queue)
    return encode(QueuePropertiesOut.of(broker.get_queue(queue)))


async def delete_queue(request: web.Request) -> web.Response:
    queue = queue_of(request)
    broker = await _before(request, "delete_queue", queue)
    broker.delete_queue(queue)
    return no_content()


# ---------------------------------------------------------------- messages


async def send(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, SendRequest)
    broker = await _before(request, "send", queue)
    return encode(SendResponse(sequence_numbers=broker.send(queue, [m.to_broker() for m in body.messages])))


async def schedule(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, ScheduleRequest)
    broker = await _before(request, "schedule", queue)
    records = [SendMessage.to_broker(m) for m in body.messages]
    return encode(SendResponse(sequence_numbers=broker.schedule(queue, records, body.at.timestamp())))


async def cancel_scheduled(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, CancelScheduledRequest)
    broker = await _before(request, "cancel_scheduled", queue)
    broker.cancel_scheduled(queue, body.sequence_numbers)
    return no_content()


async def receive(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, ReceiveRequest)
    broker = await _before(request, "receive", queue)
    path = path_of(queue, body.dead_letter)
    delete = body.receive_and_delete
    found = await _long_poll(
        request, path, lambda: broker.receive(path, body.max_messages, delete=delete), body.timeout
    )
    if not found:
        return _messages(found)
    set_aside: list[BrokerMessage] = []
    response = _messages(found, (broker, path), set_aside)
    undo = _give_back(broker, path, found, delete=delete, set_aside=set_aside)
    return await _answer_or_undo(request, response, undo)


async def peek(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, PeekRequest)
    broker = await _before(request, "peek", queue)
    return _messages(broker.peek(path_of(queue, body.dead_letter), body.from_sequence, body.max_messages))


async def receive_deferred(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, ReceiveDeferredRequest)
    broker = await _before(request, "receive_deferred", queue)
    found = broker.receive_deferred(
        queue, body.sequence_numbers, session_id=body.session_id, session_token=body.session_token
    )
    return _messages(found, (broker, queue))


# ---------------------------------------------------------------- settlement


def _lose_lock_if_injected(request: web.Request, broker: Broker, path: str, token: str) -> None:
    """A "lost lock" fault: return the message through the engine's unlock path (``abandon``, the same
    transition a lock expiry makes: delivery count kept, max-delivery dead-lettering applies) and fail."""
    if not request.app[FAULTS].take_lost_lock(token):
        return
    try:
        broker.abandon(path, token)
    except QueueError:
        pass  # already gone: the settle below would have failed the same way
    raise MessageLockLostError(
        f"cannot settle message on queue '{path}': its lock was lost (injected fault); "
        "the message was returned to the queue",
        details={"queue": path, "lock_token": token, "injected": True},
    )


async def _settle_target(request: web.Request, operation: str, dead_letter: bool) -> tuple[Broker, str, str]:
    queue = queue_of(request)
    token = path_text(request, "lock_token")
    broker = await _before(request, operation, queue)
    path = path_of(queue, dead_letter)
    _lose_lock_if_injected(request, broker, path, token)
    return broker, path, token


async def complete(request: web.Request) -> web.Response:
    body = await parse(request, SettleRequest)
    broker, path, token = await _settle_target(request, "complete", body.dead_letter)
    broker.complete(path, token)
    return no_content()


async def complete_batch(request: web.Request) -> web.Response:
    """Complete many locks in one request; each token gets its own result (``error`` null on success)."""
    queue = queue_of(request)
    body = await parse(request, SettleBatchRequest)
    _check_batch(request, len(body.lock_tokens))
    broker = request.app[BROKER]
    path = path_of(queue, body.dead_letter)
    results: list[dict[str, Any]] = []
    for token in body.lock_tokens:
        try:
            await request.app[FAULTS].before("complete", queue)
            _lose_lock_if_injected(request, broker, path, token)
            broker.complete(path, token)
            results.append({"lock_token": token, "error": None})
        except QueueError as error:
            results.append({"lock_token": token, "error": error_body(error).model_dump(mode="json")})
    # The SettleBatchResponse schema, encoded without building a model per token.
    return web.Response(body=orjson.dumps({"results": results}), content_type="application/json")


async def abandon(request: web.Request) -> web.Response:
    body = await parse(request, SettleRequest)
    broker, path, token = await _settle_target(request, "abandon", body.dead_letter)
    broker.abandon(path, token, body.properties)
    return no_content()


async def dead_letter(request: web.Request) -> web.Response:
    body = await parse(request, DeadLetterRequest)
    broker, path, token = await _settle_target(request, "dead_letter", body.dead_letter)
    try:
        broker.dead_letter(path, token, body.reason, body.description, body.properties)
    except UnsupportedOperationError as exc:
        # Well formed, but a dead-letter queue's messages cannot be dead-lettered again: a conflict with where
        # the message is, not a malformed request.
        return error_response(exc, 409)
    return no_content()


async def defer(request: web.Request) -> web.Response:
    body = await parse(request, SettleRequest)
    broker, path, token = await _settle_target(request, "defer", body.dead_letter)
    return encode(DeferResponse(sequence_number=broker.defer(path, token, body.properties)))


async def renew_lock(request: web.Request) -> web.Response:
    body = await parse(request, SettleRequest)
    broker, path, token = await _settle_target(request, "renew_lock", body.dead_letter)
    return encode(LockedUntilResponse.at(broker.renew_lock(path, token)))


# ---------------------------------------------------------------- sessions


def _session_of(request: web.Request) -> tuple[QueueName, str]:
    return queue_of(request), path_text(request, "session_id")


async def list_sessions(request: web.Request) -> web.Response:
    queue = queue_of(request)
    broker = await _before(request, "list_sessions", queue)
    return encode(SessionListResponse(sessions=[SessionInfo.from_snapshot(s) for s in broker.sessions(queue)]))


async def accept_session(request: web.Request) -> web.Response:
    queue = queue_of(request)
    body = await parse(request, AcceptSessionRequest)
    broker = await _before(request, "accept_session", queue)
    if body.session_id is not None:
        lease = broker.accept_session(queue, body.session_id)
    else:
        lease = await _long_poll(request, queue, lambda: broker.accept_session(queue, None), body.timeout)
    response = encode(AcceptSessionResponse(session=SessionOut.from_lease(lease) if lease else None))
    if lease is None:
        return response

    def undo() -> None:
        with contextlib.suppress(QueueError):
            broker.release_session(queue, lease.session_id, lease.lock_token)

    return await _answer_or_undo(request, response, undo)


async def session_receive(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionReceiveRequest)
    broker = await _before(request, "session_receive", queue)
    token = body.session_token
    found = await _long_poll(
        request, queue, lambda: broker.session_receive(queue, session_id, token, body.max_messages), body.timeout
    )
    if not found:
        return _messages(found)
    undo = _give_back(broker, queue, found, delete=False)
    return await _answer_or_undo(request, _messages(found, (broker, queue)), undo)


async def renew_session_lock(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionTokenRequest)
    broker = await _before(request, "renew_session_lock", queue)
    return encode(LockedUntilResponse.at(broker.renew_session_lock(queue, session_id, body.session_token)))


async def get_session_state(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    token = path_text(request, "session_token")
    broker = await _before(request, "get_session_state", queue)
    return encode(SessionStateResponse(state=broker.get_session_state(queue, session_id, token)))


async def set_session_state(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionStateRequest)
    broker = await _before(request, "set_session_state", queue)
    broker.set_session_state(queue, session_id, body.session_token, body.state)
    return no_content()


async def release_session(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionTokenRequest)
    broker = await _before(request, "release_session", queue)
    broker.release_session(queue, session_id, body.session_token)
    return no_content()


# ---------------------------------------------------------------- by hand (dashboard, scripts)


async def purge(request: web.Request) -> web.Response:
    body = await parse(request, PurgeRequest)
    queue = queue_of(request)
    broker = await _before(request, "purge", queue)
    return encode(PurgeResponse(purged=broker.purge(path_of(queue, body.dead_letter))))


async def resubmit_dead_letters(request: web.Request) -> web.Response:
    body = await parse(request, ResubmitRequest)
    queue = queue_of(request)
    broker = await _before(request, "resubmit_dead_letters", queue)
    if body.sequence_numbers is not None:
        _check_batch(request, len(body.sequence_numbers))
    return encode(SendResponse(sequence_numbers=broker.resubmit_dead_letters(queue, body.sequence_numbers)))


async def delete_message(request: web.Request) -> web.Response:
    queue = queue_of(request)
    raw = request.match_info["sequence_number"]  # the route takes digits only
    dead_letter = query_flag(request, "dead_letter")
    broker = await _before(request, "delete_message", queue)
    broker.delete_message(path_of(queue, dead_letter), int(raw))
    return no_content()
