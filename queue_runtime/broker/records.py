"""The engine's message record and the values it hands back to fronts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import ValidationError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_TIMESTAMP",
    "BrokerMessage",
    "MessageState",
    "SessionLease",
    "SessionSnapshot",
    "check_portable",
    "check_portable_properties",
    "message_size",
]

# What every front can carry: AMQP ``long`` and the signed 64-bit integers every JSON stack reads (the Azure SDK drops
# its connection on a ``ulong`` property above 2**63-1), and instants a datetime (and an RFC 3339 text) can name.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MIN_TIMESTAMP = datetime(1, 1, 1, tzinfo=UTC).timestamp()
MAX_TIMESTAMP = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC).timestamp()


class MessageState(StrEnum):
    AVAILABLE = "available"
    LOCKED = "locked"
    SCHEDULED = "scheduled"
    DEFERRED = "deferred"


@dataclass(slots=True)
class BrokerMessage:
    """One message. Fronts fill the first block; the engine owns the second.

    ``application_properties`` holds AMQP-style scalar values (str, int, float, bool, bytes, None...).
    ``extensions`` carries what one front needs to round-trip and the engine never reads (for example AMQP
    message annotations or a non-data body section).
    """

    body: bytes
    message_id: str | None = None
    session_id: str | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    time_to_live: float | None = None
    scheduled_enqueue_time: float | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)

    sequence_number: int = 0
    enqueued_time: float = 0.0
    expires_at: float | None = None
    delivery_count: int = 0
    lock_token: str | None = None
    locked_until: float | None = None
    state: MessageState = MessageState.AVAILABLE
    deferred: bool = False
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    dead_letter_source: str | None = None
    forward_hops: int = 0  # auto-forwarding transfers so far (the broker's hop limit reads it)
    size: int = 0

    def snapshot(self) -> BrokerMessage:
        """A copy a front may keep: later engine changes do not show through it."""
        clone = object.__new__(BrokerMessage)
        _copy_fields(self, clone)
        clone.application_properties = dict(self.application_properties)
        clone.extensions = dict(self.extensions)
        return clone


_FIELDS = tuple(f.name for f in fields(BrokerMessage))


def _field_copier() -> Callable[[BrokerMessage, BrokerMessage], None]:
    # Straight-line attribute copies, generated once (as dataclasses generates __init__): every received message
    # is snapshotted, and a getattr/setattr loop or copy.copy costs several times more.
    lines = "\n".join(f"    target.{name} = source.{name}" for name in _FIELDS)
    namespace: dict[str, Any] = {}
    exec(f"def copy_fields(source, target):\n{lines}\n", namespace)
    return namespace["copy_fields"]  # type: ignore[no-any-return]


_copy_fields = _field_copier()


def message_size(message: BrokerMessage) -> int:
    """Body bytes plus the UTF-8 length of each property name and value: the number limits are checked on."""
    size = len(message.body)
    for key, value in message.application_properties.items():
        size += len(key.encode())
        if isinstance(value, bytes):
            size += len(value)
        else:
            size += len(str(value).encode())
    return size


def check_portable_properties(properties: dict[str, Any]) -> None:
    """Refuse property values some front could not encode (at send, and when a settle adds properties)."""
    for key, value in properties.items():
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError(
                "application_properties",
                f"integer property {key!r} is outside the signed 64-bit range [-2**63, 2**63-1] that every front "
                "can carry",
                details={"property": key},
            )


def check_portable(message: BrokerMessage, now: float) -> None:
    """Refuse, at send, values some front could not encode when the message is received: one such message would
    otherwise break every later receive and peek of its queue."""
    check_portable_properties(message.application_properties)
    due = message.scheduled_enqueue_time
    if due is not None and not (math.isfinite(due) and MIN_TIMESTAMP <= due <= MAX_TIMESTAMP):
        raise ValidationError(
            "scheduled_enqueue_time", "must lie between 0001-01-01 and 9999-12-31T23:59:59.999Z (in UTC)"
        )
    ttl = message.time_to_live
    if ttl is not None and not (math.isfinite(ttl) and max(now, due or now) + ttl <= MAX_TIMESTAMP):
        raise ValidationError("time_to_live", "must be a duration that ends before the year 10000")


@dataclass(frozen=True, slots=True)
class SessionLease:
    """A held session lock: the token proves ownership in later calls."""

    queue: str
    session_id: str
    lock_token: str
    locked_until: float


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    session_id: str
    locked: bool
    locked_until: float | None
    available_count: int
    in_flight_count: int
    has_state: bool
    state_updated_at: float | None = None
    """Engine time the session state was last set (None: never)."""
