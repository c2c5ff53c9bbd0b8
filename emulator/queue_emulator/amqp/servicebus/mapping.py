"""BrokerMessage <-> AmqpMessage as Service Bus puts them on the wire: annotations, lock tokens, batches.

Everything here only translates; every rule lives in the broker engine.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from typing import Any

from queue_runtime.broker import Broker, BrokerMessage, MessageState

from ..protocol.codec import encode_into
from ..protocol.message import AmqpMessage, BodySection
from ..protocol.performatives import Data, Header, Properties
from ..protocol.types import Decimal128, Int, Long, Symbol, Timestamp

__all__ = [
    "BATCH_MESSAGE_FORMAT",
    "DOTNET_EPOCH_TICKS",
    "UNENCODABLE",
    "as_text",
    "from_amqp",
    "lock_clock_offset",
    "lock_token_from_tag",
    "tag_for_lock_token",
    "timestamp_ms",
    "to_amqp",
    "unpack_batch",
]

BATCH_MESSAGE_FORMAT = 0x80013700
DOTNET_EPOCH_TICKS = 621355968000000000

X_OPT_ENQUEUED_TIME = Symbol("x-opt-enqueued-time")
X_OPT_SEQUENCE_NUMBER = Symbol("x-opt-sequence-number")
X_OPT_LOCKED_UNTIL = Symbol("x-opt-locked-until")
X_OPT_LOCK_TOKEN = Symbol("x-opt-lock-token")
X_OPT_SCHEDULED = Symbol("x-opt-scheduled-enqueue-time")
X_OPT_DEAD_LETTER_SOURCE = Symbol("x-opt-deadletter-source")
X_OPT_MESSAGE_STATE = Symbol("x-opt-message-state")
X_OPT_ENQUEUE_SEQUENCE_NUMBER = Symbol("x-opt-enqueue-sequence-number")
_BROKER_OWNED = {X_OPT_ENQUEUED_TIME, X_OPT_SEQUENCE_NUMBER, X_OPT_LOCKED_UNTIL, X_OPT_LOCK_TOKEN,
                 X_OPT_DEAD_LETTER_SOURCE, X_OPT_MESSAGE_STATE, X_OPT_ENQUEUE_SEQUENCE_NUMBER}
# Service Bus's numbers for a message's state (the SDK's ServiceBusMessageState)
_STATE_ACTIVE, _STATE_DEFERRED, _STATE_SCHEDULED = 0, 1, 2
# extensions keys: the AMQP bits the engine stores for us but never reads
EXT = "amqp"
# What encoding a stored message for AMQP can raise (AmqpEncodeError is a ValueError): such a message is set aside
# (Broker.set_aside_unencodable), never lost and never in the way of the others.
UNENCODABLE = (TypeError, ValueError, OverflowError, OSError)


# ------------------------------------------------------------------------------------------------ lock tokens


def tag_for_lock_token(token: str) -> bytes:
    """Service Bus delivery tags are lock tokens in .NET GUID byte order."""
    return uuid.UUID(token).bytes_le


def lock_token_from_tag(tag: bytes) -> str:
    return str(uuid.UUID(bytes_le=tag))


# ------------------------------------------------------------------------------------------------ messages


def timestamp_ms(seconds: float) -> Timestamp:
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


def as_text(value: Any) -> str | None:
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
        message_id=as_text(props.message_id),
        session_id=props.group_id,
        correlation_id=as_text(props.correlation_id),
        content_type=as_text(props.content_type),
        subject=props.subject,
        reply_to=props.reply_to,
        reply_to_session_id=props.reply_to_group_id,
        to=props.to,
        time_to_live=ttl / 1000 if ttl else None,
        scheduled_enqueue_time=scheduled,
        application_properties=dict(message.application_properties or {}),
        extensions={EXT: ext} if ext else {},
    )


def message_state(message: BrokerMessage) -> int:
    """``x-opt-message-state``: what the engine says the message is, in Service Bus's numbers."""
    if message.deferred or message.state == MessageState.DEFERRED:
        return _STATE_DEFERRED
    if message.state == MessageState.SCHEDULED:
        return _STATE_SCHEDULED
    return _STATE_ACTIVE


def to_amqp(
    message: BrokerMessage, *, with_lock: bool, lock_offset: float = 0.0, transfer: bool = False
) -> AmqpMessage:
    """The message as the SDK expects to receive it, with the broker's x-opt annotations.

    ``transfer`` is set for messages delivered on a receive link (they carry delivery annotations); peeked and
    management-delivered messages are not transfers."""
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
    annotations[X_OPT_ENQUEUED_TIME] = timestamp_ms(message.enqueued_time)
    annotations[X_OPT_SEQUENCE_NUMBER] = Long(message.sequence_number)
    # the number the message got when it entered this entity (differs from the sequence number only after
    # auto-forwarding, which the emulator does not do)
    annotations[X_OPT_ENQUEUE_SEQUENCE_NUMBER] = Long(message.sequence_number)
    if message.scheduled_enqueue_time is not None:
        annotations[X_OPT_SCHEDULED] = timestamp_ms(message.scheduled_enqueue_time)
    if message.dead_letter_source is not None:
        annotations[X_OPT_DEAD_LETTER_SOURCE] = message.dead_letter_source
    if with_lock and message.locked_until is not None:
        annotations[X_OPT_LOCKED_UNTIL] = timestamp_ms(message.locked_until + lock_offset)
    annotations[X_OPT_MESSAGE_STATE] = Int(message_state(message))
    delivery_annotations: dict[Any, Any] | None = ext.get("delivery_annotations")
    if transfer:
        # Service Bus sends a delivery-annotations section on every transfer: the lock token in peek-lock,
        # an empty map in receive-and-delete.
        delivery_annotations = dict(delivery_annotations or {})
        if with_lock and message.lock_token is not None:
            delivery_annotations[X_OPT_LOCK_TOKEN] = uuid.UUID(message.lock_token)
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
        delivery_annotations=delivery_annotations,
        message_annotations=annotations,
        properties=properties,
        application_properties={k: _outgoing_value(v) for k, v in message.application_properties.items()} or None,
        body=body,
        footer=ext.get("footer"),
    )


def unpack_batch(payload: bytes) -> list[AmqpMessage]:
    """A batch delivery (format 0x80013700): each data section holds one encoded message."""
    outer = AmqpMessage.decode(payload)
    return [AmqpMessage.decode(chunk) for chunk in outer.data]


# ------------------------------------------------------------------------------------------------ decimal128

_DECIMAL128_BIAS = 6176


def _outgoing_value(value: Any) -> Any:
    """A property value as Service Bus re-encodes it. Only decimal128 changes form; every other type is kept."""
    if type(value) is Decimal128:
        return _dotnet_decimal128(value)
    return value


def _dotnet_decimal128(value: Decimal128) -> Decimal128:
    """Re-lay an IEEE 754 (binary integer significand) decimal128 the way Service Bus's .NET AMQP stack writes it.

    Service Bus decodes a decimal property into a .NET ``decimal`` and re-encodes it: sign bit, the biased exponent
    split as ``byte0 & 0x7F = exp >> 9`` / ``byte1 >> 1 = exp & 0x7F``, and the coefficient in the last 12 bytes.
    That is the form the azure-servicebus SDK's decoder reads (it cannot read its own encoder's output back). A
    value the .NET form cannot hold (special values, coefficients of 2**96 and more) is passed on unchanged.
    """
    raw = bytes(value)
    high, low = int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")
    if (high >> 61) & 0b11 == 0b11:  # NaN, infinities or the large-coefficient form
        return value
    sign = high >> 63
    exponent = (high >> 49) & 0x3FFF
    coefficient = ((high & ((1 << 49) - 1)) << 64) | low
    # The SDK's decoder reads the 12 bytes as three 32-bit words printed as 8 decimal digits each: keep
    # coefficients it reads right (below 10**8 in the last word), pass others on unchanged.
    if coefficient >= 10**8 or (exponent & 0x7F) != (exponent & 0x1FF):
        return value
    out = bytearray(16)
    out[0] = (sign << 7) | ((exponent >> 9) & 0x7F)
    out[1] = (exponent & 0x7F) << 1
    out[12:16] = coefficient.to_bytes(4, "big")
    return Decimal128(bytes(out))
