"""AMQP 1.0 framing (transport section 2.3): protocol headers, frame encoding and an incremental reader.

A frame is ``size:uint32 doff:uint8 type:uint8 channel:uint16``, ``doff * 4 - 8`` bytes of extended
header (skipped), then the body: one performative and, for transfers, the message payload. A frame with
no body is a heartbeat.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

from .codec import AmqpDecodeError, encode_into
from .performatives import (
    ErrorCondition,
    Performative,
    SaslPerformative,
    Transfer,
    decode_described_type,
)
from .types import Symbol

__all__ = [
    "AMQP_HEADER",
    "FRAME_HEADER_SIZE",
    "HEARTBEAT",
    "MIN_MAX_FRAME_SIZE",
    "NO_MAX_FRAME_SIZE",
    "SASL_HEADER",
    "TLS_HEADER",
    "Frame",
    "FrameReader",
    "FrameType",
    "FramingError",
    "ProtocolHeader",
    "encode_frame",
    "encode_transfer_frames",
]

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
TLS_HEADER = b"AMQP\x02\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
FRAME_HEADER_SIZE = 8
# Every peer must accept frames this large, and nothing larger before open has been exchanged.
MIN_MAX_FRAME_SIZE = 512
NO_MAX_FRAME_SIZE = 0xFFFF_FFFF
HEARTBEAT = b"\x00\x00\x00\x08\x02\x00\x00\x00"

_HEADER = struct.Struct(">IBBH")
_SIZE = struct.Struct(">I")


class FrameType(enum.IntEnum):
    AMQP = 0
    SASL = 1


class FramingError(ValueError):
    """The byte stream is not valid AMQP framing; ``condition`` is the error to close the connection with."""

    def __init__(self, condition: Symbol, description: str) -> None:
        super().__init__(f"{condition}: {description}")
        self.condition = condition
        self.description = description


@dataclass(frozen=True, slots=True)
class ProtocolHeader:
    """The 8-byte header that opens a connection and each security layer: ``AMQP id major minor revision``."""

    protocol_id: int
    major: int = 1
    minor: int = 0
    revision: int = 0

    @property
    def is_sasl(self) -> bool:
        return self.protocol_id == 3

    @property
    def is_amqp(self) -> bool:
        return self.protocol_id == 0

    @property
    def is_supported_version(self) -> bool:
        return (self.major, self.minor, self.revision) == (1, 0, 0)

    def to_bytes(self) -> bytes:
        return b"AMQP" + bytes((self.protocol_id, self.major, self.minor, self.revision))


@dataclass(frozen=True, slots=True)
class Frame:
    """One received frame; ``performative`` is None for a heartbeat (an empty frame)."""

    type: FrameType
    channel: int
    performative: Performative | SaslPerformative | None
    payload: bytes = b""

    @property
    def is_heartbeat(self) -> bool:
        return self.performative is None


def _frame_type(performative: Performative | SaslPerformative | None) -> FrameType:
    return FrameType.SASL if isinstance(performative, SaslPerformative) else FrameType.AMQP


def encode_frame(
    performative: Performative | SaslPerformative | None,
    *,
    channel: int = 0,
    payload: bytes | bytearray | memoryview = b"",
    max_frame_size: int | None = None,
) -> bytes:
    """Encode one frame (SASL type for SASL performatives); ``None`` gives a heartbeat.

    With ``max_frame_size`` a frame that would be larger raises FramingError(amqp:frame-size-too-small).
    """
    out = bytearray(FRAME_HEADER_SIZE)
    if performative is not None:
        encode_into(out, performative.to_described())
        out += payload
    size = len(out)
    if max_frame_size is not None and size > max_frame_size:
        raise FramingError(
            ErrorCondition.FRAME_SIZE_TOO_SMALL,
            f"a {size}-byte frame does not fit the peer's max-frame-size of {max_frame_size}",
        )
    _HEADER.pack_into(out, 0, size, 2, _frame_type(performative), channel)
    return bytes(out)


def encode_transfer_frames(
    transfer: Transfer,
    payload: bytes | bytearray | memoryview,
    *,
    max_frame_size: int | None,
    channel: int = 0,
) -> list[bytes]:
    """Encode a delivery as one transfer frame, or as several if it exceeds ``max_frame_size``.

    All but the last frame carry ``more=True``. Continuation frames carry only the handle and ``more``:
    the spec lets them omit delivery-id, tag and format, and an unset ``settled`` inherits the first
    frame's value. The last frame keeps the caller's ``more`` (a streaming sender may pass True).
    """
    limit = max_frame_size or NO_MAX_FRAME_SIZE
    view = memoryview(payload).cast("B")
    single = encode_frame(transfer, channel=channel, payload=view)
    if len(single) <= limit:
        return [single]
    first = _encoded(replace(transfer, more=True))
    middle = _encoded(Transfer(handle=transfer.handle, more=True))
    last = _encoded(Transfer(handle=transfer.handle, more=transfer.more))
    first_room = limit - FRAME_HEADER_SIZE - len(first)
    other_room = limit - FRAME_HEADER_SIZE - max(len(middle), len(last))
    if first_room < 1 or other_room < 1:
        raise FramingError(
            ErrorCondition.FRAME_SIZE_TOO_SMALL,
            f"max-frame-size {limit} leaves no room for payload next to the transfer performative",
        )
    frames = [_raw_frame(channel, first, view[:first_room])]
    offset, total = first_room, len(view)
    while total - offset > other_room:
        frames.append(_raw_frame(channel, middle, view[offset : offset + other_room]))
        offset += other_room
    frames.append(_raw_frame(channel, last, view[offset:]))
    return frames


def _encoded(performative: Performative) -> bytes:
    out = bytearray()
    encode_into(out, performative.to_described())
    return bytes(out)


def _raw_frame(channel: int, body: bytes, payload: memoryview) -> bytes:
    size = FRAME_HEADER_SIZE + len(body) + len(payload)
    return b"".join((_HEADER.pack(size, 2, FrameType.AMQP, channel), body, payload))


class FrameReader:
    """Incremental frame parser: ``feed()`` bytes as they arrive, get back complete frames.

    It starts by expecting a protocol header (a server reads the client's first); call
    :meth:`expect_protocol_header` again when a layer such as SASL completes. Raise
    :attr:`max_frame_size` once open has been exchanged: until then the spec's 512-byte minimum applies.
    After a :class:`FramingError` the reader is unusable and raises the same error again.
    """

    def __init__(self, max_frame_size: int = MIN_MAX_FRAME_SIZE, *, expect_header: bool = True) -> None:
        self._buffer = bytearray()
        self._max_frame_size = MIN_MAX_FRAME_SIZE
        self.max_frame_size = max_frame_size
        self._expect_header = expect_header
        self._error: FramingError | None = None

    @property
    def max_frame_size(self) -> int:
        return self._max_frame_size

    @max_frame_size.setter
    def max_frame_size(self, value: int) -> None:
        if not MIN_MAX_FRAME_SIZE <= value <= NO_MAX_FRAME_SIZE:
            raise ValueError(f"max-frame-size must be in [{MIN_MAX_FRAME_SIZE}, {NO_MAX_FRAME_SIZE}]")
        self._max_frame_size = value

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def expect_protocol_header(self) -> None:
        """The next 8 bytes are a protocol header, not a frame."""
        self._expect_header = True

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | ProtocolHeader]:
        """Add received bytes; return every frame or protocol header now complete, in order."""
        if self._error is not None:
            raise self._error
        self._buffer += data
        items: list[Frame | ProtocolHeader] = []
        pos = 0
        try:
            while True:
                item, pos = self._next(pos)
                if item is None:
                    break
                items.append(item)
        except FramingError as exc:
            self._error = exc
            raise
        finally:
            # Compacting once per feed, not once per frame, keeps many small frames linear in cost.
            del self._buffer[:pos]
        return items

    def iter_feed(self, data: bytes | bytearray | memoryview) -> Iterator[Frame | ProtocolHeader]:
        """Like :meth:`feed`, but parse lazily, one item per step.

        A server reading a pipelining client needs this: bytes after a SASL exchange are a protocol header,
        which :meth:`expect_protocol_header` can only announce once the SASL frame before it has been handled.
        """
        if self._error is not None:
            raise self._error
        self._buffer += data
        pos = 0
        try:
            while True:
                item, pos = self._next(pos)
                if item is None:
                    return
                yield item
        except FramingError as exc:
            self._error = exc
            raise
        finally:
            del self._buffer[:pos]

    def _next(self, pos: int) -> tuple[Frame | ProtocolHeader | None, int]:
        buf = self._buffer
        available = len(buf) - pos
        if self._expect_header:
            prefix = bytes(buf[pos : pos + min(available, 4)])
            if not b"AMQP".startswith(prefix):
                raise FramingError(
                    ErrorCondition.FRAMING_ERROR, f"expected an AMQP protocol header, got {prefix!r}"
                )
            if available < 8:
                return None, pos
            self._expect_header = False
            protocol_id, major, minor, revision = buf[pos + 4 : pos + 8]
            return ProtocolHeader(protocol_id, major, minor, revision), pos + 8
        if available < 4:
            return None, pos
        (size,) = _SIZE.unpack_from(buf, pos)
        if size < FRAME_HEADER_SIZE:
            raise FramingError(ErrorCondition.FRAMING_ERROR, f"frame size {size} is below the 8-byte header")
        if size > self._max_frame_size:
            raise FramingError(
                ErrorCondition.FRAMING_ERROR,
                f"frame size {size} exceeds the max-frame-size of {self._max_frame_size}",
            )
        if available < FRAME_HEADER_SIZE:
            return None, pos
        _, doff, frame_type, channel = _HEADER.unpack_from(buf, pos)
        if doff < 2 or doff * 4 > size:
            raise FramingError(ErrorCondition.FRAMING_ERROR, f"data offset {doff} is invalid for size {size}")
        if frame_type not in (FrameType.AMQP, FrameType.SASL):
            raise FramingError(ErrorCondition.FRAMING_ERROR, f"unknown frame type {frame_type}")
        if available < size:
            return None, pos
        end = pos + size
        kind = FrameType(frame_type)
        if doff * 4 == size:
            if kind is FrameType.SASL:
                raise FramingError(ErrorCondition.FRAMING_ERROR, "a SASL frame must have a body")
            return Frame(kind, channel, None), end
        # A private copy of the frame lets the buffer be compacted whatever the decoder keeps hold of.
        frame = bytes(memoryview(buf)[pos:end])
        return self._decode_body(kind, channel, frame, doff * 4), end

    @staticmethod
    def _decode_body(kind: FrameType, channel: int, frame: bytes, body_start: int) -> Frame:
        try:
            performative, offset = decode_described_type(frame, body_start)
        except AmqpDecodeError as exc:
            raise FramingError(ErrorCondition.DECODE_ERROR, f"undecodable frame body: {exc}") from exc
        expected = SaslPerformative if kind is FrameType.SASL else Performative
        if not isinstance(performative, expected):
            raise FramingError(
                ErrorCondition.DECODE_ERROR,
                f"{type(performative).__name__} cannot be the body of a {kind.name} frame",
            )
        return Frame(kind, channel, performative, frame[offset:])
