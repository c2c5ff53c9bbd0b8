"""Messages as applications see them: ``Message`` to send, ``ReceivedMessage`` and ``PeekedMessage`` to read."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from ._identifiers import MessageId, QueueName, SessionId
from .errors import MessageDecodeError, ValidationError

__all__ = ["Message", "PeekedMessage", "ReceiptHandle", "ReceivedMessage", "attributes_from_properties"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
JSON_CONTENT_TYPE = "application/json"


def _check_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not _ATTRIBUTE_NAME.fullmatch(key):
            raise ValidationError(
                "attributes", f"name {key!r} must be 1-128 characters of ASCII letters, digits, '_', '.' and '-'"
            )
        if not isinstance(value, str):
            raise ValidationError("attributes", f"value of {key!r} must be a string, got {type(value).__name__}")
        checked[key] = value
    return checked


# Brokers put the dead-letter reason in application properties; queue_runtime shows it as fields instead.
_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def attributes_from_properties(properties: Mapping[Any, Any]) -> dict[str, str]:
    """A broker's application properties as ``Message.attributes``: names and values as text, without the
    dead-letter properties (``dead_letter_reason``/``dead_letter_description`` carry those). Every provider
    reads properties through this one function, so they agree on what an attribute looks like."""
    attributes: dict[str, str] = {}
    for key, value in properties.items():
        name = _text(key)
        if name not in _DEAD_LETTER_PROPERTIES:
            attributes[name] = value if isinstance(value, str) else ("" if value is None else _text(value))
    return attributes


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValidationError(name, "must be a timezone-aware datetime (use datetime.now(UTC))")
    return value


@dataclass(frozen=True, slots=True)
class Message:
    """A message to send. Only ``body`` is required; everything travels with the message on every provider."""

    body: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    session_id: SessionId | None = None
    correlation_id: str | None = None
    message_id: MessageId | None = None
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None
    content_type: str | None = None
    # Service Bus's subject (label): what correlation filters and ``sys.Label`` in SQL filters route on.
    subject: str | None = None

    def __post_init__(self) -> None:
        body: Any = self.body
        if isinstance(body, str):
            body = body.encode()
        elif isinstance(body, bytearray | memoryview):
            body = bytes(body)
        elif not isinstance(body, bytes):
            raise ValidationError("body", f"must be bytes or str, got {type(body).__name__}")
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "attributes", _check_attributes(self.attributes))
        if self.session_id is not None:
            object.__setattr__(self, "session_id", SessionId(self.session_id))
        if self.message_id is not None:
            object.__setattr__(self, "message_id", MessageId(self.message_id))
        if self.correlation_id is not None and (
            not isinstance(self.correlation_id, str) or not 0 < len(self.correlation_id) <= 128
        ):
            raise ValidationError("correlation_id", "must be a string of 1-128 characters")
        if self.time_to_live is not None and self.time_to_live <= timedelta(0):
            raise ValidationError("time_to_live", "must be a positive duration")
        if self.scheduled_enqueue_time is not None:
            _aware(self.scheduled_enqueue_time, "scheduled_enqueue_time")

    @classmethod
    def from_model(cls, model: BaseModel, **fields: Any) -> Message:
        """A JSON message built from a pydantic model (content type ``application/json``)."""
        fields.setdefault("content_type", JSON_CONTENT_TYPE)
        return cls(model.model_dump_json().encode(), **fields)

    @classmethod
    def from_json(cls, value: Any, **fields: Any) -> Message:
        fields.setdefault("content_type", JSON_CONTENT_TYPE)
        return cls(json.dumps(value, separators=(",", ":")).encode(), **fields)

    def __repr__(self) -> str:
        # Bodies can hold personal data: show their size, never their content.
        return (
            f"Message(body=<{len(self.body)} bytes>, session_id={self.session_id!r}, "
            f"message_id={self.message_id!r}, attributes={dict(self.attributes)!r})"
        )


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    """Opaque proof of a lock on a received message; only the provider that issued it reads ``token``."""

    token: str
    queue: QueueName
    dead_letter: bool = False
    session_id: SessionId | None = None
    locked_until: datetime | None = None
    provider_data: Any = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"ReceiptHandle(queue={self.queue!r}, session_id={self.session_id!r}, token=<opaque>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class PeekedMessage:
    """A message as it stands in the queue, read without locking it."""

    body: bytes
    message_id: MessageId
    sequence_number: int
    enqueued_time: datetime
    delivery_count: int = 0
    attributes: Mapping[str, str] = field(default_factory=dict)
    session_id: SessionId | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    subject: str | None = None
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    state: str = "active"

    def text(self, encoding: str = "utf-8") -> str:
        try:
            return self.body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise MessageDecodeError(f"message {self.message_id} body is not valid {encoding}") from exc

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MessageDecodeError(f"message {self.message_id} body is not valid JSON: {exc}") from exc

    def model(self, model_type: type[ModelT]) -> ModelT:
        """Read the body back as a pydantic model; a body that does not fit raises ``MessageDecodeError``."""
        try:
            return model_type.model_validate_json(self.body)
        except PydanticValidationError as exc:
            raise MessageDecodeError(
                f"message {self.message_id} does not fit {model_type.__name__}: {exc.error_count()} error(s): "
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            ) from exc

    def to_message(self, **changes: Any) -> Message:
        """A new message with this one's content, for resubmitting (from a dead-letter queue, for example)."""
        fields: dict[str, Any] = {
            "body": self.body,
            "attributes": dict(self.attributes),
            "session_id": self.session_id,
            "correlation_id": self.correlation_id,
            "message_id": self.message_id,
            "content_type": self.content_type,
            "subject": self.subject,
            "time_to_live": self.time_to_live,
        }
        fields.update(changes)
        return Message(**fields)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message_id={self.message_id!r}, sequence_number={self.sequence_number}, "
            f"delivery_count={self.delivery_count}, session_id={self.session_id!r}, body=<{len(self.body)} bytes>)"
        )


@dataclass(frozen=True, slots=True, repr=False, kw_only=True)
class ReceivedMessage(PeekedMessage):
    """A locked message: settle it with its ``receipt_handle`` before ``locked_until``."""

    receipt_handle: ReceiptHandle
    locked_until: datetime | None = None
