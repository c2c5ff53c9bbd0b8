"""The engine's message record and the values it hands back to fronts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

__all__ = ["BrokerMessage", "MessageState", "SessionLease", "SessionSnapshot", "message_size"]


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
