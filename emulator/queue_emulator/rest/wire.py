"""The REST API's JSON shapes. The OpenAPI document is generated from these models (see ``openapi.py``).

Bodies and session state are bytes end to end: base64 strings in JSON. Times are RFC 3339 UTC; durations are
seconds (numbers).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from queue_runtime import QueueOptions, QueueProperties
from queue_runtime.broker import BrokerMessage, SessionLease, SessionSnapshot
from queue_runtime.errors import ProviderError, QueueError

from ..faults import NO_ERROR, OPERATIONS, TRANSPORT_FAULTS
from .topics_wire import TopicOverview

__all__ = [
    "AcceptSessionRequest",
    "AcceptSessionResponse",
    "AdvanceClockRequest",
    "Base64Bytes",
    "CancelScheduledRequest",
    "ClockResponse",
    "DeadLetterRequest",
    "ErrorBody",
    "ErrorResponse",
    "FaultRequest",
    "FaultsResponse",
    "FrontHealth",
    "HealthResponse",
    "IdleResponse",
    "InfoResponse",
    "JournalEntryOut",
    "JournalResponse",
    "LockedUntilResponse",
    "LoseLockRequest",
    "MessageOut",
    "MessagesResponse",
    "PeekRequest",
    "PurgeRequest",
    "PurgeResponse",
    "QueueListResponse",
    "QueueOptionsIn",
    "ReceiveDeferredRequest",
    "ReceiveRequest",
    "ResubmitRequest",
    "ScheduleRequest",
    "SendMessage",
    "SendRequest",
    "SendResponse",
    "SessionListResponse",
    "SessionOut",
    "SessionReceiveRequest",
    "SessionStateRequest",
    "SessionStateResponse",
    "SessionTokenRequest",
    "SettleBatchRequest",
    "SettleBatchResponse",
    "SettleRequest",
    "SettleResult",
    "WaitIdleRequest",
    "to_timestamp",
]


def _decode_base64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


Base64Bytes = Annotated[
    bytes,
    PlainValidator(_decode_base64),
    PlainSerializer(lambda value: base64.b64encode(value).decode("ascii"), return_type=str),
    WithJsonSchema({
        "type": "string",
        "contentEncoding": "base64",
        "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    }),
]
Seconds = Annotated[float, Field(ge=0, le=86_400 * 365 * 100, allow_inf_nan=False)]
PollTimeout = Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False, description="seconds to wait")]
def _whole(value: Any) -> Any:
    # JSON Schema's "integer" includes 3.0; strict pydantic does not. Take integral numbers, refuse the rest.
    if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
PropertyValue = str | int | float | bool | None
_STRICT = ConfigDict(extra="forbid")


def to_timestamp(value: datetime) -> float:
    return value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


# ---------------------------------------------------------------- errors


class ErrorBody(BaseModel):
    code: str = Field(description="stable code of the queue_runtime error class (e.g. queue_not_found)")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    transient: bool = False
    retry_after: float | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# ---------------------------------------------------------------- service


class FrontHealth(BaseModel):
    status: str = "ok"
    port: int | None = None


class HealthResponse(BaseModel):
    """Liveness of the process and of each protocol front it runs (``rest`` always; ``amqp`` when on)."""

    status: str = "ok"
    fronts: dict[str, FrontHealth] = Field(default_factory=lambda: {"rest": FrontHealth()})


class InfoResponse(BaseModel):
    version: str
    clock: str
    now: datetime
    auto_create: bool
    max_message_size: int
    max_request_size: int
    max_batch_size: int
    max_queues: int
    journal_size: int = Field(default=0, description="operations the journal keeps (0: off)")
    amqp_port: int | None = None
    servicebus_connection_string: str | None = None
    amqps_port: int | None = Field(default=None, description="AMQP over TLS port (--amqps)")
    amqp_websocket_port: int | None = Field(default=None, description="AMQP over WebSocket port (--amqp-websocket)")
    ca_path: str | None = Field(default=None, description="the generated CA bundle that signs the TLS certificate")
    admin_port: int | None = None
    admin_tls_port: int | None = None
    servicebus_admin_connection_string: str | None = None


# At least a microsecond (timedelta's resolution), at most a century.
Positive = Annotated[float, Field(ge=0.000_001, le=86_400 * 365 * 100, allow_inf_nan=False)]


class QueueOptionsIn(BaseModel):
    """The body of ``PUT /v1/queues/{queue}``: :class:`QueueOptions` with durations in seconds (numbers), every
    range stated in the schema so that what the schema allows the server accepts."""

    model_config = _STRICT

    requires_session: bool = False
    lock_duration: Annotated[float, Field(ge=1, le=300, allow_inf_nan=False)] = 30.0
    max_delivery_count: Whole = Field(default=10, ge=1, le=2000)
    default_message_ttl: Positive | None = None
    dead_lettering_on_message_expiration: bool = False
    duplicate_detection_window: Positive | None = None
    max_size_bytes: Annotated[int, Field(ge=1), BeforeValidator(_whole)] | None = None
    forward_to: str | None = Field(default=None, min_length=1, max_length=260,
                                   description="auto-forward to this queue or topic (it must exist)")
    forward_dead_lettered_messages_to: str | None = Field(
        default=None, min_length=1, max_length=260, description="auto-forward dead letters to this queue or topic"
    )

    def to_options(self) -> QueueOptions:
        def span(seconds: float | None) -> timedelta | None:
            return None if seconds is None else timedelta(seconds=seconds)

        return QueueOptions(
            requires_session=self.requires_session,
            lock_duration=timedelta(seconds=self.lock_duration),
            max_delivery_count=self.max_delivery_count,
            default_message_ttl=span(self.default_message_ttl),
            dead_lettering_on_message_expiration=self.dead_lettering_on_message_expiration,
            duplicate_detection_window=span(self.duplicate_detection_window),
            max_size_bytes=self.max_size_bytes,
            forward_to=self.forward_to,
            forward_dead_lettered_messages_to=self.forward_dead_lettered_messages_to,
        )


class QueueOptionsOut(QueueOptions):
    """:class:`QueueOptions` as the server answers it: durations in seconds (numbers). pydantic's ISO form of
    long durations ("P400Y5D") is not an RFC 3339 duration, so JSON Schema validators would reject it."""

    model_config = ConfigDict(ser_json_timedelta="float")


class QueuePropertiesOut(QueueProperties):
    options: QueueOptionsOut

    @classmethod
    def of(cls, properties: QueueProperties) -> QueuePropertiesOut:
        values = dict(properties)
        values["options"] = QueueOptionsOut.model_construct(**dict(properties.options))
        return cls.model_construct(**values)


class QueueListResponse(BaseModel):
    queues: list[QueuePropertiesOut]


# ---------------------------------------------------------------- messages


class SendMessage(BaseModel):
    model_config = _STRICT

    body: Base64Bytes
    message_id: str | None = Field(default=None, min_length=1, max_length=128)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    correlation_id: str | None = Field(default=None, max_length=128)
    content_type: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    time_to_live: Annotated[float, Field(gt=0, le=86_400 * 365 * 100, allow_inf_nan=False)] | None = None
    scheduled_enqueue_time: AwareDatetime | None = None
    application_properties: dict[str, PropertyValue] = Field(default_factory=dict)

    def to_broker(self) -> BrokerMessage:
        return BrokerMessage(
            body=self.body,
            message_id=self.message_id,
            session_id=self.session_id,
            correlation_id=self.correlation_id,
            content_type=self.content_type,
            subject=self.subject,
            reply_to=self.reply_to,
            reply_to_session_id=self.reply_to_session_id,
            to=self.to,
            time_to_live=self.time_to_live,
            scheduled_enqueue_time=(
                self.scheduled_enqueue_time.timestamp() if self.scheduled_enqueue_time else None
            ),
            application_properties=dict(self.application_properties),
        )


class SendRequest(BaseModel):
    model_config = _STRICT

    messages: list[SendMessage] = Field(min_length=1)


class SendResponse(BaseModel):
    sequence_numbers: list[int]


class ScheduleRequest(BaseModel):
    model_config = _STRICT

    messages: list[SendMessage] = Field(min_length=1)
    at: AwareDatetime


class CancelScheduledRequest(BaseModel):
    model_config = _STRICT

    sequence_numbers: list[Whole] = Field(min_length=1)


class ReceiveRequest(BaseModel):
    model_config = _STRICT

    max_messages: Whole = Field(default=1, ge=1)
    timeout: PollTimeout = 0.0
    dead_letter: bool = False
    receive_and_delete: bool = False


class PeekRequest(BaseModel):
    model_config = _STRICT

    max_messages: Whole = Field(default=1, ge=1)
    from_sequence: Whole = Field(default=1, ge=1)
    dead_letter: bool = False


class ReceiveDeferredRequest(BaseModel):
    model_config = _STRICT

    sequence_numbers: list[Whole] = Field(min_length=1)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)
    session_token: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class MessageOut(BaseModel):
    body: Base64Bytes
    message_id: str | None = None
    session_id: str | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    time_to_live: float | None = None
    scheduled_enqueue_time: datetime | None = None
    application_properties: dict[str, PropertyValue] = Field(default_factory=dict)
    sequence_number: int
    enqueued_time: datetime
    expires_at: datetime | None = None
    delivery_count: int
    lock_token: str | None = None
    locked_until: datetime | None = None
    state: str
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None
    dead_letter_source: str | None = None

    @classmethod
    def from_broker(cls, message: BrokerMessage) -> MessageOut:
        # model_construct: the engine's values are already valid, and this runs for every message received.
        return cls.model_construct(
            body=message.body,
            message_id=message.message_id,
            session_id=message.session_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
            subject=message.subject,
            reply_to=message.reply_to,
            reply_to_session_id=message.reply_to_session_id,
            to=message.to,
            time_to_live=message.time_to_live,
            scheduled_enqueue_time=_dt(message.scheduled_enqueue_time),
            application_properties={k: _property(v) for k, v in message.application_properties.items()},
            sequence_number=message.sequence_number,
            enqueued_time=datetime.fromtimestamp(message.enqueued_time, UTC),
            expires_at=_dt(message.expires_at),
            delivery_count=message.delivery_count,
            lock_token=message.lock_token,
            locked_until=_dt(message.locked_until),
            state=message.state.value,
            dead_letter_reason=message.dead_letter_reason,
            dead_letter_description=message.dead_letter_description,
            dead_letter_source=message.dead_letter_source,
        )


def _iso(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


def message_json(message: BrokerMessage) -> dict[str, Any]:
    """``MessageOut.from_broker(message)`` as JSON-ready data, built directly: this runs for every message a
    receive or peek returns, and pydantic's construct-then-serialize costs several times more. A test keeps the
    two identical, so the OpenAPI schema (``MessageOut``) stays the truth."""
    return {
        "body": base64.b64encode(message.body).decode("ascii"),
        "message_id": message.message_id,
        "session_id": message.session_id,
        "correlation_id": message.correlation_id,
        "content_type": message.content_type,
        "subject": message.subject,
        "reply_to": message.reply_to,
        "reply_to_session_id": message.reply_to_session_id,
        "to": message.to,
        "time_to_live": message.time_to_live,
        "scheduled_enqueue_time": _iso(message.scheduled_enqueue_time),
        "application_properties": {k: _property(v) for k, v in message.application_properties.items()},
        "sequence_number": message.sequence_number,
        "enqueued_time": _iso(message.enqueued_time),
        "expires_at": _iso(message.expires_at),
        "delivery_count": message.delivery_count,
        "lock_token": message.lock_token,
        "locked_until": _iso(message.locked_until),
        "state": message.state.value,
        "dead_letter_reason": message.dead_letter_reason,
        "dead_letter_description": message.dead_letter_description,
        "dead_letter_source": message.dead_letter_source,
    }


def _property(value: Any) -> PropertyValue:
    # Other fronts (AMQP) may store values JSON has no type for; they travel as text.
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


class MessagesResponse(BaseModel):
    messages: list[MessageOut]


# ---------------------------------------------------------------- settlement


class SettleRequest(BaseModel):
    model_config = _STRICT

    dead_letter: bool = Field(default=False, description="the lock was taken on the queue's dead-letter queue")
    properties: dict[str, PropertyValue] | None = None


class DeadLetterRequest(SettleRequest):
    reason: str | None = None
    description: str | None = None


class SettleBatchRequest(BaseModel):
    model_config = _STRICT

    lock_tokens: list[str] = Field(min_length=1)
    dead_letter: bool = False


class SettleResult(BaseModel):
    lock_token: str
    error: ErrorBody | None = None


class SettleBatchResponse(BaseModel):
    results: list[SettleResult]


class LockedUntilResponse(BaseModel):
    locked_until: datetime

    @classmethod
    def at(cls, timestamp: float) -> LockedUntilResponse:
        return cls(locked_until=datetime.fromtimestamp(timestamp, UTC))


class DeferResponse(BaseModel):
    sequence_number: int


# ---------------------------------------------------------------- sessions


class AcceptSessionRequest(BaseModel):
    model_config = _STRICT

    session_id: str | None = Field(default=None, min_length=1, max_length=128,
                                   description="omit to take the next available")
    timeout: PollTimeout = 0.0


class SessionOut(BaseModel):
    queue: str
    session_id: str
    session_token: str
    locked_until: datetime

    @classmethod
    def from_lease(cls, lease: SessionLease) -> SessionOut:
        return cls(queue=lease.queue, session_id=lease.session_id, session_token=lease.lock_token,
                   locked_until=datetime.fromtimestamp(lease.locked_until, UTC))


class AcceptSessionResponse(BaseModel):
    session: SessionOut | None = Field(description="null when no session became available within the timeout")


SessionToken = Annotated[str, Field(min_length=1, max_length=200)]


class SessionTokenRequest(BaseModel):
    model_config = _STRICT

    session_token: SessionToken


class SessionReceiveRequest(SessionTokenRequest):
    max_messages: Whole = Field(default=1, ge=1)
    timeout: PollTimeout = 0.0


class SessionStateRequest(SessionTokenRequest):
    state: Base64Bytes | None = None


class SessionStateResponse(BaseModel):
    state: Base64Bytes | None = None


class SessionInfo(BaseModel):
    session_id: str
    locked: bool
    locked_until: datetime | None
    available_count: int
    in_flight_count: int
    has_state: bool

    @classmethod
    def from_snapshot(cls, snapshot: SessionSnapshot) -> SessionInfo:
        return cls(session_id=snapshot.session_id, locked=snapshot.locked,
                   locked_until=_dt(snapshot.locked_until), available_count=snapshot.available_count,
                   in_flight_count=snapshot.in_flight_count, has_state=snapshot.has_state)


class SessionListResponse(BaseModel):
    sessions: list[SessionInfo]


# ---------------------------------------------------------------- control


class ClockResponse(BaseModel):
    manual: bool
    now: datetime


class AdvanceClockRequest(BaseModel):
    model_config = _STRICT

    seconds: Seconds


def _known_error_codes() -> list[str]:
    found: set[str] = set()
    pending: list[type[QueueError]] = [QueueError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(found | {NO_ERROR, ProviderError.code} | TRANSPORT_FAULTS)  # transport faults: AMQP forms


_OPERATION_NAMES = sorted(OPERATIONS)
_ERROR_CODES = _known_error_codes()


def _known_operation(value: str) -> str:
    if value not in OPERATIONS:
        raise ValueError(f"unknown operation; known: {', '.join(_OPERATION_NAMES)}")
    return value


def _known_error(value: str) -> str:
    if value not in _ERROR_CODES:
        raise ValueError("unknown error code (use a queue_runtime error code, or 'none')")
    return value


# Enumerations in the schema and the same check in the server: what the schema allows, the server accepts.
FaultOperation = Annotated[str, AfterValidator(_known_operation),
                           WithJsonSchema({"type": "string", "enum": _OPERATION_NAMES})]
FaultError = Annotated[str, AfterValidator(_known_error), WithJsonSchema({"type": "string", "enum": _ERROR_CODES})]


class FaultRequest(BaseModel):
    model_config = _STRICT

    operation: FaultOperation = Field(description="the operation to fail or slow down (see docs/emulator.md)")
    error: FaultError = Field(default="service_unavailable", description="error code to fail with, or 'none'")
    count: Whole = Field(default=1, ge=1, le=1_000_000)
    latency: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = Field(
        default=0.0, description="seconds to wait before answering (at most 60)"
    )
    queue: str | None = Field(default=None, description="only calls on this queue")


class LoseLockRequest(BaseModel):
    model_config = _STRICT

    lock_token: str = Field(min_length=1)


class FaultOut(BaseModel):
    operation: str
    error: str
    remaining: int
    latency: float
    queue: str | None


class FaultsResponse(BaseModel):
    faults: list[FaultOut]
    lost_locks: int


class StatsResponse(BaseModel):
    uptime_seconds: float
    queues: int
    messages: int
    dead_letters: int
    requests: dict[str, int]
    errors: dict[str, int]
    faults_injected: int



class DeadLetterSummary(BaseModel):
    sequence_number: int
    message_id: str | None
    reason: str | None
    description: str | None
    enqueued_time: datetime
    delivery_count: int
    size: int


class QueueOverview(BaseModel):
    properties: QueuePropertiesOut
    sessions: list[SessionInfo]
    dead_letters: list[DeadLetterSummary]
    dead_letters_total: int = Field(
        default=0, description="messages in the dead-letter queue; dead_letters shows at most the first 20"
    )


class OverviewResponse(BaseModel):
    now: datetime
    clock: str
    queues: list[QueueOverview]
    topics: list[TopicOverview] = Field(default_factory=list)


# ---------------------------------------------------------------- journal and hand-held actions


class JournalEntryOut(BaseModel):
    id: int = Field(description="position in the journal since the start (increasing, never reused)")
    time: datetime = Field(description="on the emulator's clock")
    kind: str = Field(description="sent, delivered, completed, abandoned, dead_lettered, ... (docs/journal.md)")
    entity: str
    message_id: str | None = None
    sequence_number: int | None = None
    session_id: str | None = None
    delivery_count: int | None = None
    locked_until: datetime | None = None
    client: str | None = Field(default=None, description="rest:<request id or address>, amqp:<peer address>")
    reason: str | None = None
    description: str | None = None


class JournalResponse(BaseModel):
    entries: list[JournalEntryOut]
    recorded: int = Field(description="entries recorded since start (or the id of the newest)")
    dropped: int = Field(description="oldest entries pushed out because the ring was full")
    size: int = Field(description="entries the ring keeps (0: the journal is off)")


class WaitIdleRequest(BaseModel):
    model_config = _STRICT

    entities: list[str] = Field(min_length=1, description="queues (or queue/$DeadLetterQueue) to watch")
    timeout: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 10.0
    quiet: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] = Field(
        default=0.1, description="seconds the entities must stay idle, with no journal entry about them")
    grace: Seconds = Field(default=0.0, description="a scheduled message due within this many seconds is busy")


class IdleResponse(BaseModel):
    idle: bool
    busy: dict[str, list[str]] = Field(description="each entity still busy at the timeout, and why")
    waited: float


class PurgeRequest(BaseModel):
    model_config = _STRICT

    dead_letter: bool = Field(default=False, description="purge the dead-letter queue instead")


class PurgeResponse(BaseModel):
    purged: int


class ResubmitRequest(BaseModel):
    model_config = _STRICT

    sequence_numbers: list[int] | None = Field(
        default=None, description="dead letters to move back (sequence numbers in the dead-letter queue); "
                                  "omit for all that are not locked")
