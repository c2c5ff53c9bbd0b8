"""The Service Bus layer: addresses, BrokerMessage <-> AmqpMessage mapping and the ``$management`` node.

Everything here only translates; every rule lives in the broker engine.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.errors import MessageLockLostError, QueueError, SessionLockLostError

from .codec import AmqpDecodeError, encode_into
from .errors import AmqpFault, ServiceBusCondition, fault_from_engine
from .message import AmqpMessage, BodySection
from .performatives import AmqpValue, Data, ErrorCondition, Header, Properties
from .types import AmqpType, Array, Long, Symbol, Timestamp

__all__ = [
    "BATCH_MESSAGE_FORMAT",
    "DEAD_LETTER_SUFFIX",
    "Address",
    "ManagementNode",
    "SessionRegistry",
    "from_amqp",
    "lock_token_from_tag",
    "parse_address",
    "tag_for_lock_token",
    "to_amqp",
]

BATCH_MESSAGE_FORMAT = 0x80013700
DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
MANAGEMENT_SUFFIX = "/$management"
DOTNET_EPOCH_TICKS = 621355968000000000

X_OPT_ENQUEUED_TIME = Symbol("x-opt-enqueued-time")
X_OPT_SEQUENCE_NUMBER = Symbol("x-opt-sequence-number")
X_OPT_LOCKED_UNTIL = Symbol("x-opt-locked-until")
X_OPT_LOCK_TOKEN = Symbol("x-opt-lock-token")
X_OPT_SCHEDULED = Symbol("x-opt-scheduled-enqueue-time")
X_OPT_DEAD_LETTER_SOURCE = Symbol("x-opt-deadletter-source")
_BROKER_OWNED = {X_OPT_ENQUEUED_TIME, X_OPT_SEQUENCE_NUMBER, X_OPT_LOCKED_UNTIL, X_OPT_LOCK_TOKEN,
                 X_OPT_DEAD_LETTER_SOURCE}
# extensions keys: the AMQP bits the engine stores for us but never reads
EXT = "amqp"


# ------------------------------------------------------------------------------------------------ addresses


@dataclass(frozen=True, slots=True)
class Address:
    """What a link address names: ``$cbs``, an entity path, or an entity's ``$management`` node."""

    kind: str  # "cbs" | "entity" | "management"
    path: str = ""

    @property
    def queue(self) -> str:
        return self.path[: -len(DEAD_LETTER_SUFFIX)] if self.is_dead_letter else self.path

    @property
    def is_dead_letter(self) -> bool:
        return self.path.lower().endswith(DEAD_LETTER_SUFFIX.lower())


def parse_address(address: str | None) -> Address | None:
    """``amqps://host:port/q1``, ``sb://host/q1/$DeadLetterQueue``, ``q1/$management`` or ``$cbs``."""
    if not address:
        return None
    path = urlsplit(address).path if "://" in address else address
    path = path.strip("/")
    if path == "$cbs":
        return Address("cbs")
    if path.lower().endswith(MANAGEMENT_SUFFIX.lower()):
        path = path[: -len(MANAGEMENT_SUFFIX)]
        return Address("management", path) if path else None
    if not path or path.startswith("$"):
        return None
    if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()):
        path = path[: -len(DEAD_LETTER_SUFFIX)] + DEAD_LETTER_SUFFIX
    return Address("entity", path)


def check_entity(broker: Broker, address: Address) -> None:
    """Raise AmqpFault(amqp:not-found) when the queue does not exist (and cannot be auto-created)."""
    try:
        broker.get_queue(address.queue)
    except QueueError as exc:
        raise fault_from_engine(exc) from exc


# ------------------------------------------------------------------------------------------------ lock tokens


def tag_for_lock_token(token: str) -> bytes:
    """Service Bus delivery tags are lock tokens in .NET GUID byte order."""
    return uuid.UUID(token).bytes_le


def lock_token_from_tag(tag: bytes) -> str:
    return str(uuid.UUID(bytes_le=tag))


# ------------------------------------------------------------------------------------------------ messages


def _ms(seconds: float) -> Timestamp:
    return Timestamp(round(seconds * 1000))


def lock_clock_offset(broker: Broker) -> float:
    """Seconds to add to an engine time to state a lock deadline in wall-clock time.

    The SDK checks locks against the machine's clock (``locked_until_utc <= utcnow()`` means "expired", without
    asking the broker). Under the manual clock engine time stands still, so the front reports each deadline as
    *now plus what is left*: the SDK sees the right remaining time, and a clock advance past the deadline shows as
    expired. Under the system clock the two agree and the offset is 0.
    """
    return time.time() - broker.clock.now() if broker.clock.manual else 0.0


def _seconds(value: Any) -> float | None:
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value) / 1000
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _encode_sections(sections: list[BodySection]) -> bytes:
    out = bytearray()
    for section in sections:
        encode_into(out, section.to_described())
    return bytes(out)


def from_amqp(message: AmqpMessage) -> BrokerMessage:
    """An AMQP message as the engine stores it; what the engine has no field for goes to ``extensions``."""
    ext: dict[str, Any] = {}
    props = message.properties or Properties()
    data = message.data
    if len(data) == 1 and len(message.body) == 1:
        body = data[0]
    else:
        ext["body"] = _encode_sections(message.body)
        value = message.value
        if data:
            body = b"".join(data)
        elif isinstance(value, bytes):
            body = value
        elif isinstance(value, str):
            body = value.encode()
        else:
            body = ext["body"]
    for name in ("message_id", "correlation_id"):
        original = getattr(props, name)
        if original is not None and type(original) is not str:
            ext[name] = original
    for name in ("user_id", "content_encoding", "absolute_expiry_time", "creation_time", "group_sequence"):
        if getattr(props, name) is not None:
            ext[name] = getattr(props, name)
    header = message.header
    ttl = header.ttl if header is not None else None
    if header is not None and (header.durable is not None or header.priority is not None):
        ext["header"] = (header.durable, header.priority)
    annotations = dict(message.message_annotations or {})
    scheduled = _seconds(annotations.pop(X_OPT_SCHEDULED, None))
    for key in _BROKER_OWNED:
        annotations.pop(key, None)
    if annotations:
        ext["annotations"] = annotations
    if message.delivery_annotations:
        ext["delivery_annotations"] = message.delivery_annotations
    if message.footer:
        ext["footer"] = message.footer
    return BrokerMessage(
        body=body,
        message_id=_text(props.message_id),
        session_id=props.group_id,
        correlation_id=_text(props.correlation_id),
        content_type=_text(props.content_type),
        subject=props.subject,
        reply_to=props.reply_to,
        reply_to_session_id=props.reply_to_group_id,
        to=props.to,
        time_to_live=ttl / 1000 if ttl else None,
        scheduled_enqueue_time=scheduled,
        application_properties=dict(message.application_properties or {}),
        extensions={EXT: ext} if ext else {},
    )


def to_amqp(message: BrokerMessage, *, with_lock: bool, lock_offset: float = 0.0) -> AmqpMessage:
    """The message as the SDK expects to receive it, with the broker's x-opt annotations."""
    ext: dict[str, Any] = message.extensions.get(EXT, {})
    durable, priority = ext.get("header", (None, None))
    ttl_ms = round(message.time_to_live * 1000) if message.time_to_live else None
    header = Header(
        durable=durable,
        priority=priority,
        ttl=ttl_ms if ttl_ms is not None and ttl_ms <= 0xFFFF_FFFF else None,
        delivery_count=max(message.delivery_count - 1, 0),
    )
    annotations: dict[Any, Any] = dict(ext.get("annotations", {}))
    annotations[X_OPT_ENQUEUED_TIME] = _ms(message.enqueued_time)
    annotations[X_OPT_SEQUENCE_NUMBER] = Long(message.sequence_number)
    if message.scheduled_enqueue_time is not None:
        annotations[X_OPT_SCHEDULED] = _ms(message.scheduled_enqueue_time)
    if message.dead_letter_source is not None:
        annotations[X_OPT_DEAD_LETTER_SOURCE] = message.dead_letter_source
    if with_lock and message.locked_until is not None:
        annotations[X_OPT_LOCKED_UNTIL] = _ms(message.locked_until + lock_offset)
    properties = Properties(
        message_id=ext.get("message_id", message.message_id),
        user_id=ext.get("user_id"),
        to=message.to,
        subject=message.subject,
        reply_to=message.reply_to,
        correlation_id=ext.get("correlation_id", message.correlation_id),
        content_type=message.content_type,
        content_encoding=ext.get("content_encoding"),
        absolute_expiry_time=ext.get("absolute_expiry_time"),
        creation_time=ext.get("creation_time"),
        group_id=message.session_id,
        group_sequence=ext.get("group_sequence"),
        reply_to_group_id=message.reply_to_session_id,
    )
    body: list[BodySection]
    if "body" in ext:
        body = AmqpMessage.decode(ext["body"]).body
    else:
        body = [Data(message.body)]
    return AmqpMessage(
        header=header,
        delivery_annotations=ext.get("delivery_annotations"),
        message_annotations=annotations,
        properties=properties,
        application_properties=dict(message.application_properties) or None,
        body=body,
        footer=ext.get("footer"),
    )


def unpack_batch(payload: bytes) -> list[AmqpMessage]:
    """A batch delivery (format 0x80013700): each data section holds one encoded message."""
    outer = AmqpMessage.decode(payload)
    return [AmqpMessage.decode(chunk) for chunk in outer.data]


# ------------------------------------------------------------------------------------------------ sessions


class SessionRegistry:
    """Session locks held by this server's receiver links: (path, session id) -> lock token.

    Management requests name a session by id only; this finds the token that proves the lock."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], str] = {}

    def hold(self, path: str, session_id: str, token: str) -> None:
        self._held[(path.lower(), session_id)] = token

    def drop(self, path: str, session_id: str, token: str) -> None:
        if self._held.get((path.lower(), session_id)) == token:
            del self._held[(path.lower(), session_id)]

    def token(self, path: str, session_id: str) -> str | None:
        return self._held.get((path.lower(), session_id))


# ------------------------------------------------------------------------------------------------ $management


_DISPOSITIONS = {"completed", "abandoned", "defered", "deferred", "suspended"}


class ManagementNode:
    """Request/response operations on ``<entity>/$management``."""

    def __init__(self, broker: Broker, sessions: SessionRegistry) -> None:
        self.broker = broker
        self.sessions = sessions
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

    def handle(self, path: str, request: AmqpMessage) -> AmqpMessage:
        props = request.application_properties or {}
        operation = _text(props.get("operation")) or ""
        body = request.value if isinstance(request.value, dict) else {}
        body = {_text(k): v for k, v in body.items()}
        handler = self._operations.get(operation)
        condition: Symbol | None = None
        try:
            if handler is None:
                raise AmqpFault(ErrorCondition.NOT_IMPLEMENTED, f"operation {operation!r} is not supported", 501)
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
        app: dict[str, Any] = {"statusCode": status, "statusDescription": description}
        if condition is not None:
            app["errorCondition"] = condition
        message_id = request.properties.message_id if request.properties else None
        return AmqpMessage(
            properties=Properties(correlation_id=message_id),
            application_properties=app,
            body=[AmqpValue(value)],
        )

    # -- helpers

    def _session_token(self, path: str, session_id: str) -> str:
        token = self.sessions.token(path, session_id)
        if token is None:
            raise SessionLockLostError(f"no receiver of this emulator holds the lock on session {session_id!r}")
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
        expirations = [_ms(self.broker.renew_lock(path, token) + offset) for token in self._tokens(body)]
        return 200, {"expirations": Array(AmqpType.TIMESTAMP, expirations)}

    def _renew_session_lock(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        session_id = str(body["session-id"])
        until = self.broker.renew_session_lock(path, session_id, self._session_token(path, session_id))
        return 200, {"expiration": _ms(until + lock_clock_offset(self.broker))}

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
            if delete:
                self.broker.complete(path, message.lock_token)
            entry: dict[str, Any] = {
                "message": to_amqp(message, with_lock=not delete, lock_offset=lock_clock_offset(self.broker)).encode()
            }
            if not delete:
                entry["lock-token"] = uuid.UUID(message.lock_token)
            out.append(entry)
        return 200, {"messages": out}

    def _update_disposition(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        status = _text(body["disposition-status"]) or ""
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
                    _text(body.get("deadletter-reason")) or None,
                    _text(body.get("deadletter-description")) or None,
                    changes,
                )
        return 200, {}

    def _get_message_sessions(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        skip = int(body.get("skip") or 0)
        top = int(body.get("top") or 100)
        ids = sorted(s.session_id for s in self.broker.sessions(path) if s.available_count or s.has_state)
        page = ids[skip : skip + top]
        if not page:
            return 204, None
        return 200, {"skip": skip, "sessions-ids": page}


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

