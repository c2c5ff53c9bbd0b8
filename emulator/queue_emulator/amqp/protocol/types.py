"""Python value model for the AMQP 1.0 types that have no exact Python counterpart.

Default mapping used by the codec (value -> AMQP type -> decoded back as):

=====================  ==================  ==========================
Python value           AMQP encoding       decodes to
=====================  ==================  ==========================
``None``               null                ``None``
``bool``               boolean             ``bool``
``int``                long (signed 64)    ``int``
``float``              double              ``float``
``str``                string (UTF-8)      ``str``
``bytes``/bytearray    binary              ``bytes``
``uuid.UUID``          uuid                ``uuid.UUID``
``datetime``           timestamp           :class:`Timestamp`
``list``/``tuple``     list                ``list``
``dict``               map                 ``dict``
=====================  ==================  ==========================

Every other AMQP type has a wrapper here (:class:`Symbol`, :class:`UInt`, :class:`Timestamp`, ...) and
decodes back to that wrapper, so symbol, string and binary stay distinct Python types after a round trip.
Wrappers subclass the closest builtin, so ``UInt(5) == 5`` and ``Symbol("a") == "a"``: check ``type()``
when the AMQP type matters. A map holding keys that are equal in Python but distinct in AMQP
(``"a"`` and ``Symbol("a")``, ``1`` and ``True``) cannot be represented and is rejected on decode.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

__all__ = [
    "AmqpType",
    "Array",
    "Byte",
    "Char",
    "Decimal32",
    "Decimal64",
    "Decimal128",
    "Described",
    "Float",
    "Int",
    "Long",
    "Short",
    "Symbol",
    "Timestamp",
    "UByte",
    "UInt",
    "ULong",
    "UShort",
]


class AmqpType(enum.Enum):
    """The AMQP primitive types; used as the element type of an :class:`Array`."""

    NULL = "null"
    BOOLEAN = "boolean"
    UBYTE = "ubyte"
    USHORT = "ushort"
    UINT = "uint"
    ULONG = "ulong"
    BYTE = "byte"
    SHORT = "short"
    INT = "int"
    LONG = "long"
    FLOAT = "float"
    DOUBLE = "double"
    DECIMAL32 = "decimal32"
    DECIMAL64 = "decimal64"
    DECIMAL128 = "decimal128"
    CHAR = "char"
    TIMESTAMP = "timestamp"
    UUID = "uuid"
    BINARY = "binary"
    STRING = "string"
    SYMBOL = "symbol"
    LIST = "list"
    MAP = "map"
    ARRAY = "array"


class Symbol(str):
    """AMQP symbol: an ASCII name such as ``amqp:decode-error`` (kept distinct from string)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class Char(str):
    """AMQP char: a single Unicode code point (encoded as UTF-32)."""

    __slots__ = ()

    def __new__(cls, value: str) -> Char:
        if len(value) != 1:
            raise ValueError(f"an AMQP char holds exactly one code point, got {len(value)}")
        return super().__new__(cls, value)

    def __repr__(self) -> str:
        return f"Char({str.__repr__(self)})"


class _BoundedInt(int):
    """An int that must fit the AMQP width its subclass stands for."""

    __slots__ = ()
    MIN: ClassVar[int]
    MAX: ClassVar[int]

    def __new__(cls, value: int = 0) -> Self:
        number = int(value)
        if not cls.MIN <= number <= cls.MAX:
            raise ValueError(f"{cls.__name__} must be in [{cls.MIN}, {cls.MAX}], got {number}")
        return super().__new__(cls, number)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"


class UByte(_BoundedInt):
    """AMQP ubyte (8-bit unsigned)."""

    __slots__ = ()
    MIN, MAX = 0, 0xFF


class UShort(_BoundedInt):
    """AMQP ushort (16-bit unsigned)."""

    __slots__ = ()
    MIN, MAX = 0, 0xFFFF


class UInt(_BoundedInt):
    """AMQP uint (32-bit unsigned)."""

    __slots__ = ()
    MIN, MAX = 0, 0xFFFF_FFFF


class ULong(_BoundedInt):
    """AMQP ulong (64-bit unsigned); also the type of numeric descriptors."""

    __slots__ = ()
    MIN, MAX = 0, 0xFFFF_FFFF_FFFF_FFFF


class Byte(_BoundedInt):
    """AMQP byte (8-bit signed)."""

    __slots__ = ()
    MIN, MAX = -0x80, 0x7F


class Short(_BoundedInt):
    """AMQP short (16-bit signed)."""

    __slots__ = ()
    MIN, MAX = -0x8000, 0x7FFF


class Int(_BoundedInt):
    """AMQP int (32-bit signed)."""

    __slots__ = ()
    MIN, MAX = -0x8000_0000, 0x7FFF_FFFF


class Long(_BoundedInt):
    """AMQP long (64-bit signed); a plain Python int encodes the same way."""

    __slots__ = ()
    MIN, MAX = -0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_ONE_MS = _dt.timedelta(milliseconds=1)


class Timestamp(_BoundedInt):
    """AMQP timestamp: signed milliseconds since the Unix epoch (UTC)."""

    __slots__ = ()
    MIN, MAX = Long.MIN, Long.MAX

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> Self:
        """Convert a datetime; a naive datetime is taken to be UTC."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        # Integer division keeps millisecond precision exact where float seconds would round.
        return cls((value - _EPOCH) // _ONE_MS)

    def to_datetime(self) -> _dt.datetime:
        """The instant as an aware UTC datetime."""
        return _EPOCH + _dt.timedelta(milliseconds=int(self))


_FLOAT32 = struct.Struct(">f")


class Float(float):
    """AMQP float (IEEE 754 binary32); the value is rounded to 32-bit precision on creation."""

    __slots__ = ()

    def __new__(cls, value: float = 0.0) -> Float:
        number = float(value)
        if math.isfinite(number):
            try:
                # Rounding here makes a Float equal to what the peer will decode.
                number = _FLOAT32.unpack(_FLOAT32.pack(number))[0]
            except OverflowError as exc:
                raise ValueError(f"{number!r} does not fit an AMQP float") from exc
        return super().__new__(cls, number)

    def __repr__(self) -> str:
        return f"Float({float(self)!r})"


class _FixedBytes(bytes):
    SIZE: ClassVar[int]

    def __new__(cls, value: bytes = b"") -> Self:
        raw = bytes(value) if value else bytes(cls.SIZE)
        if len(raw) != cls.SIZE:
            raise ValueError(f"{cls.__name__} needs exactly {cls.SIZE} bytes, got {len(raw)}")
        return super().__new__(cls, raw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({bytes(self)!r})"


class Decimal32(_FixedBytes):
    """AMQP decimal32, kept as its 4 raw IEEE 754 bytes."""

    SIZE = 4


class Decimal64(_FixedBytes):
    """AMQP decimal64, kept as its 8 raw IEEE 754 bytes."""

    SIZE = 8


class Decimal128(_FixedBytes):
    """AMQP decimal128, kept as its 16 raw IEEE 754 bytes."""

    SIZE = 16


@dataclass(frozen=True, slots=True)
class Described:
    """A described value: ``descriptor`` (usually a :class:`ULong` code or a :class:`Symbol`) and a value."""

    descriptor: Any
    value: Any


@dataclass(frozen=True, slots=True)
class Array:
    """AMQP array: a sequence of values that share one element type (and optionally one descriptor).

    With a ``descriptor`` the items are the described values' underlying values, because on the wire
    an array of described types carries the descriptor once, in the element constructor.
    """

    element_type: AmqpType
    items: Sequence[Any] = field(default=())
    descriptor: Any = None

    def __post_init__(self) -> None:
        # A tuple makes equality independent of the sequence type the caller passed.
        if not isinstance(self.items, tuple):
            object.__setattr__(self, "items", tuple(self.items))

    def __len__(self) -> int:
        return len(self.items)
