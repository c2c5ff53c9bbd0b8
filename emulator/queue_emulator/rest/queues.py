"""The REST/JSON front: one handler per operation. Each parses, asks the fault injector, calls the Broker and
encodes; rules live in the engine. Errors propagate to ``http_errors.error_middleware`` (the one place that
writes error bodies)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from queue_runtime import QueueName, QueueOptions
from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.errors import BatchTooLargeError, MessageLockLostError, QueueError, ValidationError

from ._http import encode, no_content, parse, path_of, queue_of
from .errors import error_body
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


def _messages(found: Sequence[BrokerMessage] | None) -> web.Response:
    # The MessagesResponse schema, encoded without building models (the hot path of every receive).
    body = orjson.dumps({"messages": [message_json(m) for m in found or []]})
    return web.Response(body=body, content_type="application/json")


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
    options = await parse(request, QueueOptions)
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
    found = await request.app[WAITER].wait_for(
        path, lambda: broker.receive(path, body.max_messages, delete=body.receive_and_delete), body.timeout
    )
    return _messages(found)


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
    return _messages(found)


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
    token = request.match_info["lock_token"]
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
    broker.dead_letter(path, token, body.reason, body.description, body.properties)
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
    return queue_of(request), request.match_info["session_id"]


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
        lease = await request.app[WAITER].wait_for(queue, lambda: broker.accept_session(queue, None), body.timeout)
    return encode(AcceptSessionResponse(session=SessionOut.from_lease(lease) if lease else None))


async def session_receive(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionReceiveRequest)
    broker = await _before(request, "session_receive", queue)
    token = body.session_token
    found = await request.app[WAITER].wait_for(
        queue, lambda: broker.session_receive(queue, session_id, token, body.max_messages), body.timeout
    )
    return _messages(found)


async def renew_session_lock(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    body = await parse(request, SessionTokenRequest)
    broker = await _before(request, "renew_session_lock", queue)
    return encode(LockedUntilResponse.at(broker.renew_session_lock(queue, session_id, body.session_token)))


async def get_session_state(request: web.Request) -> web.Response:
    queue, session_id = _session_of(request)
    token = request.query.get("session_token", "")
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
    raw = request.match_info["sequence_number"]
    if not raw.isdigit():
        raise ValidationError("sequence_number", f"must be a positive integer, got {raw!r}")
    dead_letter = request.query.get("dead_letter", "false").lower() in ("1", "true", "yes")
    broker = await _before(request, "delete_message", queue)
    broker.delete_message(path_of(queue, dead_letter), int(raw))
    return no_content()
