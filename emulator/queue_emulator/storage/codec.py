"""How records become bytes and back: pickle restricted to value types, and a CRC-32 on every row.

Message properties and the AMQP front's extensions hold typed values (``Long``, ``Symbol``, ``Timestamp``,
described types, ``datetime``, ``UUID``...) that must come back as the same types, which pickle does exactly. The
unpickler resolves only the classes listed here, never a function, so a row cannot make the emulator run code; and
every row's checksum is verified before it is decoded, so a damaged row is reported, never half-read.
"""

from __future__ import annotations

import io
import pickle
import zlib
from dataclasses import fields
from typing import Any

from queue_runtime.broker import BrokerMessage, MessageState

__all__ = [
    "CONTENT_FIELDS",
    "STATE_FIELDS",
    "RecordCorrupted",
    "checksum",
    "decode",
    "decode_message",
    "encode",
    "encode_content",
    "encode_state",
]

# What changes while a message is stored (written on every receive and settle) apart from what was sent.
STATE_FIELDS = ("state", "delivery_count", "lock_token", "locked_until", "enqueued_time", "expires_at", "deferred")
CONTENT_FIELDS = tuple(f.name for f in fields(BrokerMessage) if f.name not in STATE_FIELDS)

_MODULES = {"queue_emulator.amqp.protocol.types"}  # the AMQP front's value types: every class there
_CLASSES = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "complex"),
    ("collections", "OrderedDict"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("uuid", "UUID"), ("decimal", "Decimal"),
}


class RecordCorrupted(Exception):
    """A row whose checksum does not match, or that does not decode."""


class _ValuesOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CLASSES or module in _MODULES:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise RecordCorrupted(f"a stored value names {module}.{name}, which is not a value type")


def checksum(*parts: bytes) -> int:
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc


def encode(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def decode(data: bytes, crc: int, what: str) -> Any:
    if checksum(data) != crc:
        raise RecordCorrupted(f"{what}: checksum mismatch")
    try:
        return _ValuesOnly(io.BytesIO(data)).load()
    except RecordCorrupted:
        raise
    except Exception as exc:  # a checksum collision on damaged bytes: still reported, never used
        raise RecordCorrupted(f"{what}: {type(exc).__name__}: {exc}") from exc


def encode_content(message: BrokerMessage) -> bytes:
    return pickle.dumps(tuple(getattr(message, name) for name in CONTENT_FIELDS), protocol=5)


def encode_state(message: BrokerMessage) -> bytes:
    return pickle.dumps(
        (message.state.value, message.delivery_count, message.lock_token, message.locked_until,
         message.enqueued_time, message.expires_at, message.deferred),
        protocol=5,
    )


def decode_message(
    content: bytes, content_crc: int, state: bytes, state_crc: int, content_fields: tuple[str, ...], what: str
) -> BrokerMessage:
    """A message from its two parts; ``content_fields`` names the content tuple's items as they were written."""
    values = decode(content, content_crc, what)
    status = decode(state, state_crc, what)
    if not isinstance(values, tuple) or len(values) != len(content_fields) or len(status) != len(STATE_FIELDS):
        raise RecordCorrupted(f"{what}: the record does not have the stored layout")
    known = dict(zip(content_fields, values, strict=True))
    known.update(zip(STATE_FIELDS, status, strict=True))
    try:
        known["state"] = MessageState(known["state"])
        return BrokerMessage(**{name: value for name, value in known.items() if name in _ALL_FIELDS})
    except (TypeError, ValueError) as exc:
        raise RecordCorrupted(f"{what}: {exc}") from exc


_ALL_FIELDS = frozenset(f.name for f in fields(BrokerMessage))
