"""The ``$management`` node of a Service Bus entity: request/response operations, and the session locks it checks.

Everything here only translates; every rule lives in the broker engine.
"""

from __future__ import annotations

import datetime as _dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from queue_runtime.broker import Broker
from queue_runtime.errors import MessageLockLostError, QueueError, SessionLockLostError

from ..protocol.codec import AmqpDecodeError
from ..protocol.errors import AmqpFault
from ..protocol.message import AmqpMessage
from ..protocol.performatives import AmqpValue, ErrorCondition, Properties
from ..protocol.types import AmqpType, Array, Long, Symbol
from .errors import ServiceBusCondition, fault_from_engine
from .mapping import UNENCODABLE, as_text, from_amqp, lock_clock_offset, timestamp_ms, to_amqp
from .pubsub import rule_operations

__all__ = ["ManagementNode", "SessionRegistry", "required_right", "settle"]

log = logging.getLogger("queue_emulator.amqp")


# ------------------------------------------------------------------------------------------------ sessions


class SessionRegistry:
    """Session locks held by this server's receiver links: (path, session id) -> (lock token, holder).

    Management requests name a session by id only; this finds the token that proves the lock, and gives it only to
    the holder (the connection whose receiver link took the lock), as on Service Bus: another connection cannot read
    or write the session's state or renew its lock. The engine then checks the token."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], tuple[str, object]] = {}

    def hold(self, path: str, session_id: str, token: str, holder: object) -> None:
        self._held[(path.lower(), session_id)] = (token, holder)

    def drop(self, path: str, session_id: str, token: str) -> None:
        held = self._held.get((path.lower(), session_id))
        if held is not None and held[0] == token:
            del self._held[(path.lower(), session_id)]

    def token(self, path: str, session_id: str, requester: object) -> str | None:
        held = self._held.get((path.lower(), session_id))
        return held[0] if held is not None and held[1] is requester else None


# ------------------------------------------------------------------------------------------------ $management


# .NET DateTime.MaxValue in Unix milliseconds: the SDK sends it when no time filter is given.
_MAX_DATETIME_MS = 253402300800000
_DISPOSITIONS = {"completed", "abandoned", "defered", "deferred", "suspended"}


class ManagementNode:
    """Request/response operations on ``<entity>/$management``."""

    def __init__(self, broker: Broker, sessions: SessionRegistry) -> None:
        self.broker = broker
        self.sessions = sessions
        self._requester: object = None  # the connection of the request being handled (handle() never awaits)
        self._operations: dict[str, Callable[[str, dict[str, Any]], tuple[int, Any]]] = {
            "com.microsoft:renew-lock": self._renew_lock,
            "com.microsoft:renew-session-lock": self._renew_session_lock,
            "com.microsoft:get-session-state": self._get_session_state,
            "com.microsoft:set-session-state": self._set_session_state,
            "com.microsoft:peek-message": self._peek,
            "com.microsoft:schedule-message": self._schedule,
            "com.microsoft:cancel-scheduled-message": self._cancel_scheduled,
            "com.microsoft:receive-by-sequence-number": self._receive_deferred,
            "com.microsoft:update-disposition": self._update_disposition,
            "com.microsoft:get-message-sessions": self._get_message_sessions,
        }
        self._operations.update(rule_operations(broker))  # add-rule, remove-rule, enumerate-rules (pubsub.py)

    @staticmethod
    def _parse(request: AmqpMessage) -> tuple[str, dict[str, Any]]:
        props = request.application_properties or {}
        operation = as_text(props.get("operation")) or ""
        body = request.value if isinstance(request.value, dict) else {}
        return operation, {str(as_text(k)): v for k, v in body.items()}

    def check(self, path: str, request: AmqpMessage,
              before: Callable[[str, dict[str, Any]], None]) -> AmqpMessage | None:
        """Run ``before(operation, body)`` (authorization, injected faults): the error response it causes, or None
        when the request may go ahead."""
        operation, body = self._parse(request)
        return self._respond(path, request, lambda: before(operation, body), check_only=True)

    def handle(self, path: str, request: AmqpMessage, requester: object = None) -> AmqpMessage:
        """Answer one request, failed or not, with a response carrying Service Bus's status code. ``requester``
        is the connection asking: session operations need the session lock that connection holds."""
        self._requester = requester
        response = self._respond(path, request, None, check_only=False)
        assert response is not None
        return response

    def error_response(self, request: AmqpMessage, fault: AmqpFault) -> AmqpMessage:
        return self._response(request, fault.status_code, None, fault.description, fault.condition)

    def _respond(self, path: str, request: AmqpMessage, before: Callable[[], None] | None, *,
                 check_only: bool) -> AmqpMessage | None:
        operation, body = self._parse(request)
        handler = self._operations.get(operation)
        condition: Symbol | None = None
        try:
            if handler is None:
                raise AmqpFault(ErrorCondition.NOT_IMPLEMENTED, f"operation {operation!r} is not supported", 501)
            if before is not None:
                before()
            if check_only:
                return None
            status, value = handler(path, body)
            description = "OK" if status == 200 else "No content"
        except QueueError as exc:
            fault = fault_from_engine(exc)
            status, value, description, condition = fault.status_code, None, fault.description, fault.condition
        except AmqpFault as fault:
            status, value, description, condition = fault.status_code, None, fault.description, fault.condition
        except (AmqpDecodeError, KeyError, TypeError, ValueError) as exc:
            status, value, condition = 400, None, ServiceBusCondition.ARGUMENT_ERROR
            description = f"bad {operation} request: {exc}"
        except Exception as exc:  # every request gets an answer: the SDK would otherwise wait out its timeout
            log.exception("$management %s on %r failed", operation, path)
            status, value, condition = 500, None, ErrorCondition.INTERNAL_ERROR
            description = f"{operation} failed in the emulator: {type(exc).__name__}: {exc}"[:500]
        return self._response(request, status, value, description, condition)

    @staticmethod
    def _response(request: AmqpMessage, status: int, value: Any, description: str,
                  condition: Symbol | None) -> AmqpMessage:
        app: dict[str, Any] = {"statusCode": status, "statusDescription": description}
        if condition is not None:
            app["errorCondition"] = condition
        message_id = request.properties.message_id if request.properties else None
        return AmqpMessage(
            properties=Properties(correlation_id=message_id),
            application_properties=app,
            body=[AmqpValue(value)],
        )

    def lock_tokens(self, body: dict[str, Any]) -> list[str]:
        try:
            return self._tokens(body)
        except (KeyError, TypeError, ValueError):
            return []  # malformed: the operation itself answers 400

    # -- helpers

    def _session_token(self, path: str, session_id: str) -> str:
        token = self.sessions.token(path, session_id, self._requester)
        if token is None:
            raise SessionLockLostError(f"no receiver on this connection holds the lock on session {session_id!r}")
        return token

    @staticmethod
    def _tokens(body: dict[str, Any]) -> list[str]:
        raw = body["lock-tokens"]
        items = raw.items if isinstance(raw, Array) else raw
        return [str(item if isinstance(item, uuid.UUID) else uuid.UUID(str(item))) for item in items]

    @staticmethod
    def _numbers(body: dict[str, Any]) -> list[int]:
        raw = body["sequence-numbers"]
        items = raw.items if isinstance(raw, Array) else raw
        return [int(item) for item in items]

    # -- operations

    def _renew_lock(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        offset = lock_clock_offset(self.broker)
        expirations = [timestamp_ms(self.broker.renew_lock(path, token) + offset) for token in self._tokens(body)]
        return 200, {"expirations": Array(AmqpType.TIMESTAMP, expirations)}

    def _renew_session_lock(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        session_id = str(body["session-id"])
        until = self.broker.renew_session_lock(path, session_id, self._session_token(path, session_id))
        return 200, {"expiration": timestamp_ms(until + lock_clock_offset(self.broker))}

    def _get_session_state(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        session_id = str(body["session-id"])
        state = self.broker.get_session_state(path, session_id, self._session_token(path, session_id))
        return 200, {"session-state": state}

    def _set_session_state(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        session_id = str(body["session-id"])
        state = body.get("session-state")
        if state is not None and not isinstance(state, bytes):
            state = str(state).encode()
        self.broker.set_session_state(path, session_id, self._session_token(path, session_id), state)
        return 200, {}

    def _peek(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        start = int(body.get("from-sequence-number") or 1)
        count = max(int(body.get("message-count") or 1), 1)
        session_id = body.get("session-id")
        found = self.broker.peek(path, max(start, 1), count, session_id=None if session_id is None else str(session_id))
        if not found:
            return 204, None
        return 200, {"messages": [{"message": to_amqp(m, with_lock=False).encode()} for m in found[:count]]}

    def _schedule(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        messages = []
        for item in body["messages"]:
            message = from_amqp(AmqpMessage.decode(item["message"]))
            if message.session_id is None and item.get("session-id") is not None:
                message.session_id = str(item["session-id"])
            if message.scheduled_enqueue_time is None:
                raise AmqpFault(ServiceBusCondition.ARGUMENT_ERROR, "a scheduled message needs a scheduled time", 400)
            messages.append(message)
        seqs = self.broker.send(path, messages)
        return 200, {"sequence-numbers": Array(AmqpType.LONG, [Long(s) for s in seqs])}

    def _cancel_scheduled(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.broker.cancel_scheduled(path, self._numbers(body))
        return 200, {}

    def _receive_deferred(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        session_id = body.get("session-id")
        token = self._session_token(path, str(session_id)) if session_id is not None else None
        received = self.broker.receive_deferred(
            path, self._numbers(body), session_id=None if session_id is None else str(session_id), session_token=token
        )
        delete = int(body.get("receiver-settle-mode") or 0) == 0
        out = []
        for message in received:
            assert message.lock_token is not None
            try:  # encoded before anything is completed: a message AMQP cannot carry is set aside, never lost
                encoded = to_amqp(message, with_lock=not delete, lock_offset=lock_clock_offset(self.broker)).encode()
            except UNENCODABLE as exc:
                self.broker.set_aside_unencodable(
                    path, message, f"the AMQP front cannot encode this message: {type(exc).__name__}: {exc}"
                )
                continue
            if delete:
                self.broker.complete(path, message.lock_token)
            entry: dict[str, Any] = {"message": encoded}
            if not delete:
                entry["lock-token"] = uuid.UUID(message.lock_token)
            out.append(entry)
        return 200, {"messages": out}

    def _update_disposition(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        status = as_text(body["disposition-status"]) or ""
        if status not in _DISPOSITIONS:
            raise AmqpFault(ServiceBusCondition.ARGUMENT_ERROR, f"unknown disposition-status {status!r}", 400)
        changes = body.get("properties-to-modify") or None
        for token in self._tokens(body):
            if status == "completed":
                self.broker.complete(path, token)
            elif status == "abandoned":
                self.broker.abandon(path, token, changes)
            elif status in ("defered", "deferred"):
                self.broker.defer(path, token, changes)
            else:
                self.broker.dead_letter(
                    path,
                    token,
                    as_text(body.get("deadletter-reason")) or None,
                    as_text(body.get("deadletter-description")) or None,
                    changes,
                )
        return 200, {}

    def _get_message_sessions(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        skip = int(body.get("skip") or 0)
        top = int(body.get("top") or 100)
        raw = body.get("last-updated-time")
        updated_after: float | None = None
        if raw is not None:
            millis = int(raw.timestamp() * 1000) if isinstance(raw, _dt.datetime) else int(raw)
            if millis < _MAX_DATETIME_MS:  # DateTime.MaxValue means "no filter" (the SDK's default listing mode)
                updated_after = millis / 1000 - lock_clock_offset(self.broker)
        ids = self.broker.list_sessions(path, updated_after=updated_after)
        page = ids[skip : skip + top]
        if not page:
            return 204, None
        return 200, {"skip": skip, "sessions-ids": page}


# The claim each operation needs, as on Service Bus: sending-side operations need Send, the rest Listen.
_SEND_OPERATIONS = {"com.microsoft:schedule-message", "com.microsoft:cancel-scheduled-message"}


def required_right(operation: str) -> str:
    return "Send" if operation in _SEND_OPERATIONS else "Listen"


def settle(broker: Broker, path: str, token: str, outcome: str, **details: Any) -> None:
    """Apply one receiver-link settlement to the engine (complete/abandon/release/defer/dead-letter)."""
    if outcome == "complete":
        broker.complete(path, token)
    elif outcome == "release":
        broker.release(path, token)
    elif outcome == "abandon":
        broker.abandon(path, token, details.get("properties"))
    elif outcome == "defer":
        broker.defer(path, token, details.get("properties"))
    elif outcome == "dead-letter":
        broker.dead_letter(path, token, details.get("reason"), details.get("description"), details.get("properties"))
    else:  # pragma: no cover - the link layer only passes the five above
        raise MessageLockLostError(f"unknown settlement {outcome!r}")

