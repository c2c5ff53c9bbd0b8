"""How a message travels on SQS: the body encoding, the ``qr.meta`` attribute, user attributes, the
SendMessageBatch entry built from a :class:`Message` and the :class:`ReceivedMessage` read back from a receive."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..._identifiers import MessageId, SessionId
from ..._messages import Message, ReceiptHandle, ReceivedMessage
from ...errors import MessageTooLargeError, SessionRequiredError, UnsupportedOperationError, ValidationError
from .limits import (
    MAX_DELAY_SECONDS,
    MAX_DELIVERY_REASON,
    MAX_SQS_ATTRIBUTES,
    MAX_USER_ATTRIBUTES,
    MAX_WAIT_SECONDS,
    META_ATTRIBUTE,
    SQS_MAX_MESSAGE_SIZE,
)
from .locks import _Lock, _QueueInfo

__all__ = ["decode_body", "encode_body", "received_message", "send_entry", "wait_time_seconds"]

logger = logging.getLogger("queue_runtime.providers.sqs")  # one logger for the package, as before the split

_RESERVED_PREFIXES = ("qr.", "aws.", "amazon.")
# Characters SQS accepts in bodies and attribute values: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000+
_SQS_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def wait_time_seconds(remaining: float, cap: int = MAX_WAIT_SECONDS) -> int:
    """``WaitTimeSeconds`` for one ReceiveMessage: the remaining wait rounded DOWN to whole seconds (0 to cap),
    so a receive never waits longer than asked; under a second left means one short poll."""
    if remaining <= 0:
        return 0
    return max(0, min(cap, math.floor(remaining)))


def _attribute_bytes(name: str, value: str) -> int:
    return len(name.encode()) + len("String") + len(value.encode())


def _meta_json(meta: Mapping[str, Any]) -> str:
    # ensure_ascii: the attribute is then plain printable ASCII, whatever the ids and reasons hold.
    return json.dumps(
        {k: v for k, v in meta.items() if v is not None}, separators=(",", ":"), ensure_ascii=True
    )


def _clip_json(text: str | None, max_bytes: int) -> str | None:
    if text is None:
        return None
    while len(json.dumps(text)) > max_bytes:
        text = text[: max(0, len(text) - max(1, len(text) // 8))]
    return text


def encode_body(body: bytes) -> tuple[str, str | None]:
    """The SQS ``MessageBody`` for ``body`` and the encoding marker (None = verbatim UTF-8 text)."""
    if not body:
        return "-", "empty"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
    if _SQS_INVALID.search(text):
        return base64.b64encode(body).decode("ascii"), "base64"
    return text, None


def decode_body(text: str, encoding: str | None) -> bytes:
    if encoding == "empty":
        return b""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            logger.warning("sqs: a message marked base64 is not valid base64; delivering its text as is")
    return text.encode("utf-8")


def _check_user_attributes(attributes: Mapping[str, str]) -> None:
    if len(attributes) > MAX_USER_ATTRIBUTES:
        raise ValidationError(
            "attributes",
            f"SQS allows {MAX_SQS_ATTRIBUTES} message attributes and queue-runtime reserves 1 "
            f"({META_ATTRIBUTE}), "
            f"so at most {MAX_USER_ATTRIBUTES}; got {len(attributes)}",
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if lowered.startswith(_RESERVED_PREFIXES):
            raise ValidationError(
                "attributes",
                f"name {name!r} is reserved on SQS (names may not start with qr., AWS. or Amazon.)",
            )
        if ".." in name or name.startswith(".") or name.endswith("."):
            raise ValidationError(
                "attributes", f"name {name!r}: SQS forbids leading, trailing or doubled periods"
            )
        if _SQS_INVALID.search(value):
            raise ValidationError("attributes", f"value of {name!r} holds characters SQS does not accept")


def send_entry(
    info: _QueueInfo, message: Message, index: int, at: datetime | None
) -> tuple[dict[str, Any], int]:
    """One SendMessageBatch entry and its size on the wire; every check happens here, before any send."""
    if info.requires_session and message.session_id is None:
        raise SessionRequiredError(
            f"queue '{info.name}' requires sessions: every message needs a session id"
        )
    _check_user_attributes(message.attributes)
    message_id = message.message_id or MessageId.new()
    body, encoding = encode_body(message.body)
    ttl = message.time_to_live.total_seconds() if message.time_to_live else info.default_ttl
    scheduled = at or message.scheduled_enqueue_time
    delay = 0
    if scheduled is not None:
        if info.fifo:
            raise UnsupportedOperationError(
                "SQS FIFO queues have no per-message delay, so messages cannot be scheduled on them",
                details={"provider": "sqs", "operation": "scheduling"},
            )
        delay = max(0, math.ceil(scheduled.timestamp() - time.time()))
        if delay > MAX_DELAY_SECONDS:
            raise ValidationError(
                "scheduled_enqueue_time",
                f"SQS can delay a message by at most {MAX_DELAY_SECONDS} seconds (15 minutes); "
                f"this one is {delay} seconds away",
            )
    meta = {
        "v": 1,
        "id": str(message_id),
        "cid": message.correlation_id,
        "ct": message.content_type,
        "sj": message.subject,
        "sid": str(message.session_id) if message.session_id else None,
        "ttl": ttl,
        "at": scheduled.timestamp() if scheduled is not None else None,
        "enc": encoding,
        "ea": sorted(k for k, v in message.attributes.items() if v == "") or None,
    }
    meta_text = _meta_json(meta)
    attributes = {META_ATTRIBUTE: {"DataType": "String", "StringValue": meta_text}}
    attributes.update(
        {k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items() if v != ""}
    )
    size = len(body.encode()) + sum(_attribute_bytes(k, a["StringValue"]) for k, a in attributes.items())
    if size > SQS_MAX_MESSAGE_SIZE:
        raise MessageTooLargeError(size, SQS_MAX_MESSAGE_SIZE)
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": body, "MessageAttributes": attributes}
    if info.fifo:
        entry["MessageGroupId"] = str(message.session_id or message_id)
        entry["MessageDeduplicationId"] = str(message_id)
    if delay:
        entry["DelaySeconds"] = delay
    return entry, size


def received_message(
    info: _QueueInfo, url: str, dead_letter: bool, raw: dict[str, Any], received_at: float
) -> ReceivedMessage:
    system = raw.get("Attributes", {}) or {}
    attributes_raw: dict[str, Any] = dict(raw.get("MessageAttributes", {}) or {})
    meta: dict[str, Any] = {}
    if META_ATTRIBUTE in attributes_raw:
        try:
            loaded = json.loads(attributes_raw[META_ATTRIBUTE].get("StringValue", ""))
            meta = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            logger.warning("sqs: message %s has an unreadable %s", raw.get("MessageId"), META_ATTRIBUTE)
    attributes: dict[str, str] = {}
    for name, value in attributes_raw.items():
        if name == META_ATTRIBUTE:
            continue
        if "StringValue" in value:
            attributes[name] = str(value["StringValue"])
        elif "BinaryValue" in value:  # from other producers: our attributes are strings
            attributes[name] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    for name in meta.get("ea") or ():
        attributes[str(name)] = ""
    group = system.get("MessageGroupId")
    session = meta.get("sid") or (group if info.fifo and not meta else None)
    deadline = received_at + info.visibility
    lock = _Lock(
        queue=info.name,
        url=url,
        dead_letter=dead_letter,
        deadline=deadline,
        visibility=info.visibility,
        sqs_message_id=str(raw["MessageId"]),
        raw_body=str(raw.get("Body", "")),
        raw_attributes=attributes_raw,
        meta=meta,
        group_id=group,
    )
    locked_until = datetime.fromtimestamp(deadline, UTC)
    session_id = SessionId.delivered(session) if session else None
    receipt = ReceiptHandle(
        token=str(raw["ReceiptHandle"]),
        queue=info.name,
        dead_letter=dead_letter,
        session_id=session_id,
        locked_until=locked_until,
        provider_data=lock,
    )
    reason = meta.get("dlr") or (MAX_DELIVERY_REASON if dead_letter else None)
    ttl = meta.get("ttl")
    at = meta.get("at")
    return ReceivedMessage(
        body=decode_body(lock.raw_body, meta.get("enc")),
        message_id=MessageId.delivered(meta.get("id") or raw["MessageId"]),
        sequence_number=int(system.get("SequenceNumber", 0)),
        enqueued_time=datetime.fromtimestamp(int(system.get("SentTimestamp", 0)) / 1000, UTC),
        delivery_count=int(system.get("ApproximateReceiveCount", 1)),
        attributes=attributes,
        session_id=session_id,
        correlation_id=meta.get("cid"),
        content_type=meta.get("ct"),
        subject=meta.get("sj"),
        time_to_live=timedelta(seconds=ttl) if ttl else None,
        scheduled_enqueue_time=datetime.fromtimestamp(at, UTC) if at else None,
        dead_letter_reason=reason,
        dead_letter_description=meta.get("dld"),
        receipt_handle=receipt,
        locked_until=locked_until,
    )
