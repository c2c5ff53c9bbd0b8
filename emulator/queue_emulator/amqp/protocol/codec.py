"""AMQP 1.0 type-system codec (OASIS AMQP 1.0 part 1): ``encode(value)`` and ``decode(buf, offset)``.

The Python value model is described in :mod:`.types`. Encoding picks the most compact constructor
(uint0, smalluint, list0, str8, ...); decoding accepts every constructor the spec defines. Any malformed
or truncated input raises :class:`AmqpDecodeError`, whatever went wrong inside.
"""

from __future__ import annotations

import datetime as _dt
import struct
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .types import (
    AmqpType,
    Array,
    Byte,
    Char,
    Decimal32,
    Decimal64,
    Decimal128,
    Described,
    Float,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    UByte,
    UInt,
    ULong,
    UShort,
)

__all__ = [
    "MAX_NESTING_DEPTH",
    "AmqpDecodeError",
    "AmqpEncodeError",
    "decode",
    "encode",
    "encode_into",
]

# Performatives nest about five levels deep; the cap stops hostile input from exhausting the stack.
MAX_NESTING_DEPTH = 100
# Arrays of zero-width elements (null, true, uint0, ...) occupy no bytes per item, so the byte size of the
# input cannot bound their count; this cap stops a 12-byte array32 from allocating billions of items.
_MAX_ZERO_WIDTH_ITEMS = 65536

_Buf = bytes | memoryview
_Encoder = Callable[[bytearray, Any], None]
_Decoder = Callable[[_Buf, int, int], tuple[Any, int]]


class AmqpDecodeError(ValueError):
    """The bytes are not a valid AMQP encoding (malformed, truncated, unsupported or too deep)."""


class AmqpEncodeError(ValueError):
    """The value cannot be encoded (unsupported Python type or out of range for its AMQP type)."""


# --------------------------------------------------------------------------------------------- encoding

_P_B = struct.Struct(">B").pack
_P_BB = struct.Struct(">BB").pack
_P_Bb = struct.Struct(">Bb").pack
_P_BH = struct.Struct(">BH").pack
_P_Bh = struct.Struct(">Bh").pack
_P_BI = struct.Struct(">BI").pack
_P_Bi = struct.Struct(">Bi").pack
_P_BQ = struct.Struct(">BQ").pack
_P_Bq = struct.Struct(">Bq").pack
_P_Bf = struct.Struct(">Bf").pack
_P_Bd = struct.Struct(">Bd").pack
_P_BBB = struct.Struct(">BBB").pack
_P_BII = struct.Struct(">BII").pack
_P_I = struct.Struct(">I").pack


def encode(value: Any) -> bytes:
    """Encode one AMQP value (see :mod:`.types` for the Python-to-AMQP mapping)."""
    out = bytearray()
    encode_into(out, value)
    return bytes(out)


def encode_into(out: bytearray, value: Any) -> None:
    """Append the encoding of ``value`` to ``out`` (saves a copy when building frames)."""
    try:
        _encode_into(out, value)
    except AmqpEncodeError:
        raise
    except (struct.error, ValueError, OverflowError, TypeError, RecursionError) as exc:
        raise AmqpEncodeError(f"cannot encode {type(value).__name__}: {exc}") from exc


def _encode_into(out: bytearray, value: Any) -> None:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _resolve_encoder(type(value))
    encoder(out, value)


def _resolve_encoder(cls: type) -> _Encoder:
    for base in cls.__mro__[1:]:
        encoder = _ENCODERS.get(base)
        if encoder is not None:
            break
    else:
        if callable(getattr(cls, "to_described", None)):
            encoder = _enc_to_described
        elif issubclass(cls, Mapping):
            encoder = _enc_map
        else:
            raise AmqpEncodeError(f"no AMQP encoding for Python type {cls.__name__}")
    # Subclasses (IntEnum members, user str subclasses) are resolved once, then hit the fast path.
    _ENCODERS[cls] = encoder
    return encoder


def _enc_null(out: bytearray, value: None) -> None:
    out.append(0x40)


def _enc_bool(out: bytearray, value: bool) -> None:
    out.append(0x41 if value else 0x42)


def _enc_ubyte(out: bytearray, value: int) -> None:
    out += _P_BB(0x50, value)


def _enc_ushort(out: bytearray, value: int) -> None:
    out += _P_BH(0x60, value)


def _enc_uint(out: bytearray, value: int) -> None:
    if value == 0:
        out.append(0x43)
    elif 0 < value < 256:
        out += _P_BB(0x52, value)
    else:
        out += _P_BI(0x70, value)


def _enc_ulong(out: bytearray, value: int) -> None:
    if value == 0:
        out.append(0x44)
    elif 0 < value < 256:
        out += _P_BB(0x53, value)
    else:
        out += _P_BQ(0x80, value)


def _enc_byte(out: bytearray, value: int) -> None:
    out += _P_Bb(0x51, value)


def _enc_short(out: bytearray, value: int) -> None:
    out += _P_Bh(0x61, value)


def _enc_int(out: bytearray, value: int) -> None:
    if -128 <= value <= 127:
        out += _P_Bb(0x54, value)
    else:
        out += _P_Bi(0x71, value)


def _enc_long(out: bytearray, value: int) -> None:
    if -128 <= value <= 127:
        out += _P_Bb(0x55, value)
    elif Long.MIN <= value <= Long.MAX:
        out += _P_Bq(0x81, value)
    else:
        raise AmqpEncodeError(f"int {value} does not fit an AMQP long; wrap it (e.g. ULong) if unsigned")


def _enc_float(out: bytearray, value: float) -> None:
    out += _P_Bf(0x72, value)


def _enc_double(out: bytearray, value: float) -> None:
    out += _P_Bd(0x82, value)


def _enc_decimal32(out: bytearray, value: bytes) -> None:
    out.append(0x74)
    out += value


def _enc_decimal64(out: bytearray, value: bytes) -> None:
    out.append(0x84)
    out += value


def _enc_decimal128(out: bytearray, value: bytes) -> None:
    out.append(0x94)
    out += value


def _enc_char(out: bytearray, value: str) -> None:
    out += _P_BI(0x73, ord(value))


def _enc_timestamp(out: bytearray, value: int) -> None:
    out += _P_Bq(0x83, value)


def _enc_datetime(out: bytearray, value: _dt.datetime) -> None:
    out += _P_Bq(0x83, Timestamp.from_datetime(value))


def _enc_uuid(out: bytearray, value: uuid.UUID) -> None:
    out.append(0x98)
    out += value.bytes


def _write_variable(out: bytearray, code8: int, code32: int, data: bytes | bytearray) -> None:
    size = len(data)
    if size < 256:
        out += _P_BB(code8, size)
    else:
        out += _P_BI(code32, size)
    out += data


def _enc_binary(out: bytearray, value: bytes | bytearray) -> None:
    _write_variable(out, 0xA0, 0xB0, value)


def _enc_memoryview(out: bytearray, value: memoryview) -> None:
    _write_variable(out, 0xA0, 0xB0, value.tobytes())


def _enc_string(out: bytearray, value: str) -> None:
    _write_variable(out, 0xA1, 0xB1, value.encode("utf-8"))


def _enc_symbol(out: bytearray, value: str) -> None:
    # The spec says ASCII; UTF-8 is a superset, so what a lenient peer sent can be echoed back.
    _write_variable(out, 0xA3, 0xB3, value.encode("utf-8"))


def _write_compound(out: bytearray, code8: int, code32: int, body: bytes | bytearray, count: int) -> None:
    # The size field counts the count field too: one byte in the 8-bit form, four in the 32-bit form.
    size = len(body)
    if size < 255 and count < 256:
        out += _P_BBB(code8, size + 1, count)
    else:
        out += _P_BII(code32, size + 4, count)
    out += body


def _enc_list(out: bytearray, value: list[Any] | tuple[Any, ...]) -> None:
    if not value:
        out.append(0x45)
        return
    body = bytearray()
    for item in value:
        _encode_into(body, item)
    _write_compound(out, 0xC0, 0xD0, body, len(value))


def _enc_map(out: bytearray, value: Mapping[Any, Any]) -> None:
    body = bytearray()
    for key, item in value.items():
        _encode_into(body, key)
        _encode_into(body, item)
    _write_compound(out, 0xC1, 0xD1, body, 2 * len(value))


def _enc_described(out: bytearray, value: Described) -> None:
    out.append(0x00)
    _encode_into(out, value.descriptor)
    _encode_into(out, value.value)


def _enc_to_described(out: bytearray, value: Any) -> None:
    _enc_described(out, value.to_described())


# Array element encodings: the constructor is written once, then each element without it.
_ARRAY_FIXED: dict[AmqpType, tuple[int, str]] = {
    AmqpType.BOOLEAN: (0x56, "B"),
    AmqpType.UBYTE: (0x50, "B"),
    AmqpType.USHORT: (0x60, "H"),
    AmqpType.UINT: (0x70, "I"),
    AmqpType.ULONG: (0x80, "Q"),
    AmqpType.BYTE: (0x51, "b"),
    AmqpType.SHORT: (0x61, "h"),
    AmqpType.INT: (0x71, "i"),
    AmqpType.LONG: (0x81, "q"),
    AmqpType.FLOAT: (0x72, "f"),
    AmqpType.DOUBLE: (0x82, "d"),
    AmqpType.CHAR: (0x73, "I"),
    AmqpType.TIMESTAMP: (0x83, "q"),
}
_ARRAY_RAW: dict[AmqpType, tuple[int, int]] = {
    AmqpType.DECIMAL32: (0x74, 4),
    AmqpType.DECIMAL64: (0x84, 8),
    AmqpType.DECIMAL128: (0x94, 16),
    AmqpType.UUID: (0x98, 16),
}
_ARRAY_VARIABLE: dict[AmqpType, tuple[int, int]] = {
    AmqpType.BINARY: (0xA0, 0xB0),
    AmqpType.STRING: (0xA1, 0xB1),
    AmqpType.SYMBOL: (0xA3, 0xB3),
}


def _array_fixed_items(element_type: AmqpType, items: tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    if element_type is AmqpType.CHAR:
        return [ord(item) for item in items]
    if element_type is AmqpType.TIMESTAMP:
        return [Timestamp.from_datetime(i) if isinstance(i, _dt.datetime) else i for i in items]
    if element_type is AmqpType.BOOLEAN:
        return [1 if item else 0 for item in items]
    return items


def _compound_body(element_type: AmqpType, item: Any) -> tuple[bytes | bytearray, int]:
    """The inner bytes and count of one list/map/array element (everything after size and count)."""
    body = bytearray()
    if element_type is AmqpType.LIST:
        for sub in item:
            _encode_into(body, sub)
        return body, len(item)
    if element_type is AmqpType.MAP:
        for key, sub in item.items():
            _encode_into(body, key)
            _encode_into(body, sub)
        return body, 2 * len(item)
    if not isinstance(item, Array):
        raise AmqpEncodeError(f"an array of arrays needs Array items, got {type(item).__name__}")
    constructor, elements = _array_parts(item)
    return constructor + elements, len(item.items)


def _array_parts(array: Array) -> tuple[bytes, bytes]:
    """The element constructor (with descriptor, if any) and the concatenated element bodies."""
    element_type, items = array.element_type, tuple(array.items)
    prefix = b""
    if array.descriptor is not None:
        prefix = b"\x00" + encode(array.descriptor)
    fixed = _ARRAY_FIXED.get(element_type)
    if fixed is not None:
        code, fmt = fixed
        values = _array_fixed_items(element_type, items)
        return prefix + _P_B(code), struct.pack(f">{len(values)}{fmt}", *values)
    raw = _ARRAY_RAW.get(element_type)
    if raw is not None:
        code, width = raw
        datas = [item.bytes if isinstance(item, uuid.UUID) else bytes(item) for item in items]
        if any(len(data) != width for data in datas):
            raise AmqpEncodeError(f"{element_type.value} array items must be {width} bytes each")
        return prefix + _P_B(code), b"".join(datas)
    variable = _ARRAY_VARIABLE.get(element_type)
    if variable is not None:
        code8, code32 = variable
        if element_type is AmqpType.BINARY:
            datas = [bytes(item) for item in items]
        else:
            datas = [item.encode("utf-8") for item in items]
        body = bytearray()
        if all(len(data) < 256 for data in datas):
            for data in datas:
                body.append(len(data))
                body += data
            return prefix + _P_B(code8), bytes(body)
        for data in datas:
            body += _P_I(len(data))
            body += data
        return prefix + _P_B(code32), bytes(body)
    if element_type is AmqpType.NULL:
        if any(item is not None for item in items):
            raise AmqpEncodeError("a null array can only hold None")
        return prefix + b"\x40", b""
    codes = {AmqpType.LIST: (0xC0, 0xD0), AmqpType.MAP: (0xC1, 0xD1), AmqpType.ARRAY: (0xE0, 0xF0)}
    code8, code32 = codes[element_type]
    parts = [_compound_body(element_type, item) for item in items]
    body = bytearray()
    if all(len(inner) < 255 and count < 256 for inner, count in parts):
        for inner, count in parts:
            body += _P_BB(len(inner) + 1, count)
            body += inner
        return prefix + _P_B(code8), bytes(body)
    for inner, count in parts:
        body += struct.pack(">II", len(inner) + 4, count)
        body += inner
    return prefix + _P_B(code32), bytes(body)


def _enc_array(out: bytearray, value: Array) -> None:
    constructor, elements = _array_parts(value)
    _write_compound(out, 0xE0, 0xF0, constructor + elements, len(value.items))


_ENCODERS: dict[type, _Encoder] = {
    type(None): _enc_null,
    bool: _enc_bool,
    int: _enc_long,
    Long: _enc_long,
    UByte: _enc_ubyte,
    UShort: _enc_ushort,
    UInt: _enc_uint,
    ULong: _enc_ulong,
    Byte: _enc_byte,
    Short: _enc_short,
    Int: _enc_int,
    Timestamp: _enc_timestamp,
    float: _enc_double,
    Float: _enc_float,
    Decimal32: _enc_decimal32,
    Decimal64: _enc_decimal64,
    Decimal128: _enc_decimal128,
    str: _enc_string,
    Symbol: _enc_symbol,
    Char: _enc_char,
    bytes: _enc_binary,
    bytearray: _enc_binary,
    memoryview: _enc_memoryview,
    uuid.UUID: _enc_uuid,
    _dt.datetime: _enc_datetime,
    list: _enc_list,
    tuple: _enc_list,
    dict: _enc_map,
    Described: _enc_described,
    Array: _enc_array,
}


# --------------------------------------------------------------------------------------------- decoding

_U_H = struct.Struct(">H").unpack_from
_U_I = struct.Struct(">I").unpack_from
_U_II = struct.Struct(">II").unpack_from
_U_Q = struct.Struct(">Q").unpack_from
_U_b = struct.Struct(">b").unpack_from
_U_h = struct.Struct(">h").unpack_from
_U_i = struct.Struct(">i").unpack_from
_U_q = struct.Struct(">q").unpack_from
_U_f = struct.Struct(">f").unpack_from
_U_d = struct.Struct(">d").unpack_from


def decode(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, int]:
    """Decode the AMQP value at ``offset``; return it and the offset just past it."""
    data: _Buf
    if isinstance(buf, bytes):
        data = buf
    else:
        data = memoryview(buf)
        if data.ndim != 1 or data.format != "B":
            data = data.cast("B")
    if not 0 <= offset < len(data):
        raise AmqpDecodeError(f"no AMQP value at offset {offset} of a {len(data)}-byte buffer")
    try:
        return _decode_value(data, offset, 0)
    except AmqpDecodeError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise AmqpDecodeError(f"malformed or truncated AMQP value: {exc}") from exc


def _decode_value(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    decoder = _DECODERS[buf[pos]]
    if decoder is None:
        raise AmqpDecodeError(f"unknown AMQP constructor 0x{buf[pos]:02x} at offset {pos}")
    return decoder(buf, pos + 1, depth)


def _const(value: Any) -> _Decoder:
    def decoder(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
        return value, pos

    return decoder


def _dec_list0(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return [], pos


def _bool_byte(value: int) -> bool:
    if value > 1:
        raise AmqpDecodeError(f"boolean octet must be 0 or 1, got {value}")
    return value == 1


def _dec_bool(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _bool_byte(buf[pos]), pos + 1


def _dec_ubyte(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return int.__new__(UByte, buf[pos]), pos + 1


def _dec_smalluint(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return int.__new__(UInt, buf[pos]), pos + 1


def _dec_uint(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return int.__new__(UInt, _U_I(buf, pos)[0]), pos + 4


def _dec_smallulong(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return int.__new__(ULong, buf[pos]), pos + 1


def _dec_ulong(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return int.__new__(ULong, _U_Q(buf, pos)[0]), pos + 8


def _dec_smalllong(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _U_b(buf, pos)[0], pos + 1


def _dec_long(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _U_q(buf, pos)[0], pos + 8


def _fixed(
    unpack: Callable[[_Buf, int], tuple[Any, ...]], width: int, wrap: Callable[[Any], Any]
) -> _Decoder:
    def decoder(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
        return wrap(unpack(buf, pos)[0]), pos + width

    return decoder


def _wrap_int(cls: type[int]) -> Callable[[int], Any]:
    # Values read from a field of the right width are in range, so the validating __new__ is skipped.
    def wrap(value: int) -> Any:
        return int.__new__(cls, value)

    return wrap


def _wrap_float32(value: float) -> Float:
    return float.__new__(Float, value)


def _wrap_char(value: int) -> Char:
    return Char(chr(value))


def _raw(cls: type[bytes], width: int) -> _Decoder:
    def decoder(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
        end = pos + width
        if end > len(buf):
            raise _truncated(pos)
        return cls(buf[pos:end]), end

    return decoder


def _dec_uuid(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    end = pos + 16
    if end > len(buf):
        raise _truncated(pos)
    return uuid.UUID(bytes=bytes(buf[pos:end])), end


def _truncated(pos: int) -> AmqpDecodeError:
    return AmqpDecodeError(f"AMQP value at offset {pos} runs past the end of the data")


def _span8(buf: _Buf, pos: int) -> tuple[int, int]:
    start = pos + 1
    end = start + buf[pos]
    if end > len(buf):
        raise _truncated(pos)
    return start, end


def _span32(buf: _Buf, pos: int) -> tuple[int, int]:
    start = pos + 4
    end = start + _U_I(buf, pos)[0]
    if end > len(buf):
        raise _truncated(pos)
    return start, end


def _dec_vbin8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span8(buf, pos)
    return bytes(buf[start:end]), end


def _dec_vbin32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span32(buf, pos)
    return bytes(buf[start:end]), end


def _dec_str8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span8(buf, pos)
    return str(buf[start:end], "utf-8"), end


def _dec_str32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span32(buf, pos)
    return str(buf[start:end], "utf-8"), end


def _dec_sym8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span8(buf, pos)
    return Symbol(buf[start:end], "utf-8"), end


def _dec_sym32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    start, end = _span32(buf, pos)
    return Symbol(buf[start:end], "utf-8"), end


def _check_compound(buf: _Buf, start: int, end: int, count: int, depth: int, min_width: int = 1) -> None:
    if end < start or end > len(buf):
        raise AmqpDecodeError(f"compound at offset {start} has a size that does not fit the data")
    if count * min_width > end - start:
        raise AmqpDecodeError(f"compound at offset {start} claims {count} items in {end - start} bytes")
    if depth >= MAX_NESTING_DEPTH:
        raise AmqpDecodeError(f"AMQP value nested deeper than {MAX_NESTING_DEPTH} levels")


def _list_body(buf: _Buf, pos: int, end: int, count: int, depth: int) -> tuple[Any, int]:
    _check_compound(buf, pos, end, count, depth)
    items = []
    for _ in range(count):
        item, pos = _decode_value(buf, pos, depth + 1)
        items.append(item)
    if pos != end:
        raise AmqpDecodeError(f"list items end at offset {pos}, its size says {end}")
    return items, end


def _dec_list8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _list_body(buf, pos + 2, pos + 1 + buf[pos], buf[pos + 1], depth)


def _dec_list32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    size, count = _U_II(buf, pos)
    return _list_body(buf, pos + 8, pos + 4 + size, count, depth)


def _map_body(buf: _Buf, pos: int, end: int, count: int, depth: int) -> tuple[Any, int]:
    _check_compound(buf, pos, end, count, depth)
    if count % 2:
        raise AmqpDecodeError(f"map at offset {pos} has an odd number ({count}) of keys and values")
    result: dict[Any, Any] = {}
    try:
        for _ in range(count // 2):
            key, pos = _decode_value(buf, pos, depth + 1)
            result[key], pos = _decode_value(buf, pos, depth + 1)
    except TypeError as exc:
        raise AmqpDecodeError(f"map key is not hashable: {exc}") from exc
    if pos != end:
        raise AmqpDecodeError(f"map entries end at offset {pos}, its size says {end}")
    if len(result) != count // 2:
        raise AmqpDecodeError("map holds duplicate keys (or keys equal as Python values)")
    return result, end


def _dec_map8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _map_body(buf, pos + 2, pos + 1 + buf[pos], buf[pos + 1], depth)


def _dec_map32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    size, count = _U_II(buf, pos)
    return _map_body(buf, pos + 8, pos + 4 + size, count, depth)


# constructor -> (struct format char, width, wrapper or None for plain values); decoded in one unpack call.
_ARRAY_BULK: dict[int, tuple[str, int, Callable[[Any], Any] | None]] = {
    0x56: ("B", 1, _bool_byte),
    0x50: ("B", 1, _wrap_int(UByte)),
    0x60: ("H", 2, _wrap_int(UShort)),
    0x70: ("I", 4, _wrap_int(UInt)),
    0x52: ("B", 1, _wrap_int(UInt)),
    0x80: ("Q", 8, _wrap_int(ULong)),
    0x53: ("B", 1, _wrap_int(ULong)),
    0x51: ("b", 1, _wrap_int(Byte)),
    0x61: ("h", 2, _wrap_int(Short)),
    0x71: ("i", 4, _wrap_int(Int)),
    0x54: ("b", 1, _wrap_int(Int)),
    0x81: ("q", 8, None),
    0x55: ("b", 1, None),
    0x72: ("f", 4, _wrap_float32),
    0x82: ("d", 8, None),
    0x73: ("I", 4, _wrap_char),
    0x83: ("q", 8, _wrap_int(Timestamp)),
}


def _uuid_from_bytes(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=raw)


# constructor -> (width, constructor of the Python value) for fixed-width types struct cannot unpack.
_ARRAY_RAW_DECODE: dict[int, tuple[int, Callable[[bytes], Any]]] = {
    0x98: (16, _uuid_from_bytes),
    0x74: (4, Decimal32),
    0x84: (8, Decimal64),
    0x94: (16, Decimal128),
}
_ZERO_WIDTH = {0x40: None, 0x41: True, 0x42: False, 0x43: UInt(0), 0x44: ULong(0)}

_CONSTRUCTOR_TYPES: dict[int, AmqpType] = {
    0x40: AmqpType.NULL,
    0x41: AmqpType.BOOLEAN,
    0x42: AmqpType.BOOLEAN,
    0x56: AmqpType.BOOLEAN,
    0x50: AmqpType.UBYTE,
    0x60: AmqpType.USHORT,
    0x70: AmqpType.UINT,
    0x52: AmqpType.UINT,
    0x43: AmqpType.UINT,
    0x80: AmqpType.ULONG,
    0x53: AmqpType.ULONG,
    0x44: AmqpType.ULONG,
    0x51: AmqpType.BYTE,
    0x61: AmqpType.SHORT,
    0x71: AmqpType.INT,
    0x54: AmqpType.INT,
    0x81: AmqpType.LONG,
    0x55: AmqpType.LONG,
    0x72: AmqpType.FLOAT,
    0x82: AmqpType.DOUBLE,
    0x74: AmqpType.DECIMAL32,
    0x84: AmqpType.DECIMAL64,
    0x94: AmqpType.DECIMAL128,
    0x73: AmqpType.CHAR,
    0x83: AmqpType.TIMESTAMP,
    0x98: AmqpType.UUID,
    0xA0: AmqpType.BINARY,
    0xB0: AmqpType.BINARY,
    0xA1: AmqpType.STRING,
    0xB1: AmqpType.STRING,
    0xA3: AmqpType.SYMBOL,
    0xB3: AmqpType.SYMBOL,
    0x45: AmqpType.LIST,
    0xC0: AmqpType.LIST,
    0xD0: AmqpType.LIST,
    0xC1: AmqpType.MAP,
    0xD1: AmqpType.MAP,
    0xE0: AmqpType.ARRAY,
    0xF0: AmqpType.ARRAY,
}


def _array_body(buf: _Buf, pos: int, end: int, count: int, depth: int) -> tuple[Any, int]:
    _check_compound(buf, pos, end, 0, depth)
    descriptor = None
    constructor = buf[pos]
    pos += 1
    if constructor == 0x00:
        descriptor, pos = _decode_value(buf, pos, depth + 1)
        constructor = buf[pos]
        pos += 1
    element_type = _CONSTRUCTOR_TYPES.get(constructor)
    if element_type is None:
        raise AmqpDecodeError(f"array element constructor 0x{constructor:02x} is not a primitive type")
    items: list[Any] | tuple[Any, ...]
    bulk = _ARRAY_BULK.get(constructor)
    if bulk is not None:
        fmt, width, wrap = bulk
        if pos + count * width != end:
            raise AmqpDecodeError(f"array of {count} x {width}-byte items does not match its size")
        raw = struct.unpack_from(f">{count}{fmt}", buf, pos)
        items = raw if wrap is None else list(map(wrap, raw))
        pos = end
    elif constructor in _ARRAY_RAW_DECODE:
        width, make = _ARRAY_RAW_DECODE[constructor]
        if pos + count * width != end:
            raise AmqpDecodeError(f"array of {count} x {width}-byte items does not match its size")
        items = [make(bytes(buf[offset : offset + width])) for offset in range(pos, end, width)]
        pos = end
    elif constructor in _ZERO_WIDTH or constructor == 0x45:
        if count > _MAX_ZERO_WIDTH_ITEMS:
            raise AmqpDecodeError(f"array of {count} zero-width items is over the limit")
        if constructor == 0x45:
            items = [[] for _ in range(count)]
        else:
            items = [_ZERO_WIDTH[constructor]] * count
    else:
        decoder = _DECODERS[constructor]
        assert decoder is not None  # every constructor in _CONSTRUCTOR_TYPES has a decoder
        _check_compound(buf, pos, end, count, depth)
        items = []
        for _ in range(count):
            item, pos = decoder(buf, pos, depth + 1)
            items.append(item)
    if pos != end:
        raise AmqpDecodeError(f"array items end at offset {pos}, its size says {end}")
    return Array(element_type, items, descriptor), end


def _dec_array8(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    return _array_body(buf, pos + 2, pos + 1 + buf[pos], buf[pos + 1], depth)


def _dec_array32(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    size, count = _U_II(buf, pos)
    return _array_body(buf, pos + 8, pos + 4 + size, count, depth)


def _dec_described(buf: _Buf, pos: int, depth: int) -> tuple[Any, int]:
    if depth >= MAX_NESTING_DEPTH:
        raise AmqpDecodeError(f"AMQP value nested deeper than {MAX_NESTING_DEPTH} levels")
    descriptor, pos = _decode_value(buf, pos, depth + 1)
    value, pos = _decode_value(buf, pos, depth + 1)
    return Described(descriptor, value), pos


_DECODERS: list[_Decoder | None] = [None] * 256
_DECODERS[0x00] = _dec_described
_DECODERS[0x40] = _const(None)
_DECODERS[0x41] = _const(True)
_DECODERS[0x42] = _const(False)
_DECODERS[0x56] = _dec_bool
_DECODERS[0x50] = _dec_ubyte
_DECODERS[0x60] = _fixed(_U_H, 2, _wrap_int(UShort))
_DECODERS[0x70] = _dec_uint
_DECODERS[0x52] = _dec_smalluint
_DECODERS[0x43] = _const(UInt(0))
_DECODERS[0x80] = _dec_ulong
_DECODERS[0x53] = _dec_smallulong
_DECODERS[0x44] = _const(ULong(0))
_DECODERS[0x51] = _fixed(_U_b, 1, _wrap_int(Byte))
_DECODERS[0x61] = _fixed(_U_h, 2, _wrap_int(Short))
_DECODERS[0x71] = _fixed(_U_i, 4, _wrap_int(Int))
_DECODERS[0x54] = _fixed(_U_b, 1, _wrap_int(Int))
_DECODERS[0x81] = _dec_long
_DECODERS[0x55] = _dec_smalllong
_DECODERS[0x72] = _fixed(_U_f, 4, _wrap_float32)
_DECODERS[0x82] = _fixed(_U_d, 8, float)
_DECODERS[0x74] = _raw(Decimal32, 4)
_DECODERS[0x84] = _raw(Decimal64, 8)
_DECODERS[0x94] = _raw(Decimal128, 16)
_DECODERS[0x73] = _fixed(_U_I, 4, _wrap_char)
_DECODERS[0x83] = _fixed(_U_q, 8, _wrap_int(Timestamp))
_DECODERS[0x98] = _dec_uuid
_DECODERS[0xA0] = _dec_vbin8
_DECODERS[0xB0] = _dec_vbin32
_DECODERS[0xA1] = _dec_str8
_DECODERS[0xB1] = _dec_str32
_DECODERS[0xA3] = _dec_sym8
_DECODERS[0xB3] = _dec_sym32
_DECODERS[0x45] = _dec_list0
_DECODERS[0xC0] = _dec_list8
_DECODERS[0xD0] = _dec_list32
_DECODERS[0xC1] = _dec_map8
_DECODERS[0xD1] = _dec_map32
_DECODERS[0xE0] = _dec_array8
_DECODERS[0xF0] = _dec_array32
