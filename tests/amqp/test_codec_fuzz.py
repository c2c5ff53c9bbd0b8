"""Property tests: typed round trips over nested values, and hostile bytes raise only the typed errors."""

from __future__ import annotations

import itertools
import math
import string
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    SASL_HEADER,
    AmqpDecodeError,
    AmqpMessage,
    AmqpType,
    Array,
    Byte,
    Char,
    Decimal32,
    Decimal64,
    Decimal128,
    Described,
    Float,
    Frame,
    FrameReader,
    FramingError,
    Int,
    Long,
    Short,
    Symbol,
    Timestamp,
    Transfer,
    UByte,
    UInt,
    ULong,
    UShort,
    decode,
    decode_described_type,
    encode,
    encode_frame,
    encode_transfer_frames,
)

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def typed_equal(a: Any, b: Any) -> bool:
    """Equal values of identical Python types, all the way down (NaN equals NaN; map order matters)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(typed_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return typed_equal(list(a.items()), list(b.items()))
    if isinstance(a, Described):
        return typed_equal(a.descriptor, b.descriptor) and typed_equal(a.value, b.value)
    if isinstance(a, Array):
        return (
            a.element_type is b.element_type
            and typed_equal(a.descriptor, b.descriptor)
            and typed_equal(list(a.items), list(b.items))
        )
    return bool(a == b)


def test_typed_equal_tells_amqp_types_apart() -> None:
    assert typed_equal([Symbol("a"), {1: UInt(2)}], [Symbol("a"), {1: UInt(2)}])
    assert not typed_equal(Symbol("a"), "a")
    assert not typed_equal({1: UInt(2)}, {1: 2})
    assert not typed_equal(Array(AmqpType.UINT, [1]), Array(AmqpType.LONG, [1]))
    assert typed_equal(math.nan, math.nan)


symbols = st.text(alphabet=string.ascii_letters + string.digits + ":-._$", max_size=300).map(Symbol)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)

# element type -> strategy for typed items of that type
ARRAY_ITEMS: dict[AmqpType, st.SearchStrategy[Any]] = {
    AmqpType.BOOLEAN: st.booleans(),
    AmqpType.UBYTE: st.integers(UByte.MIN, UByte.MAX).map(UByte),
    AmqpType.USHORT: st.integers(UShort.MIN, UShort.MAX).map(UShort),
    AmqpType.UINT: st.integers(UInt.MIN, UInt.MAX).map(UInt),
    AmqpType.ULONG: st.integers(ULong.MIN, ULong.MAX).map(ULong),
    AmqpType.BYTE: st.integers(Byte.MIN, Byte.MAX).map(Byte),
    AmqpType.SHORT: st.integers(Short.MIN, Short.MAX).map(Short),
    AmqpType.INT: st.integers(Int.MIN, Int.MAX).map(Int),
    AmqpType.LONG: st.integers(Long.MIN, Long.MAX),
    AmqpType.FLOAT: st.floats(width=32, allow_nan=False).map(Float),
    AmqpType.DOUBLE: st.floats(allow_nan=False),
    AmqpType.DECIMAL32: st.binary(min_size=4, max_size=4).map(Decimal32),
    AmqpType.DECIMAL64: st.binary(min_size=8, max_size=8).map(Decimal64),
    AmqpType.DECIMAL128: st.binary(min_size=16, max_size=16).map(Decimal128),
    AmqpType.CHAR: st.characters().map(Char),
    AmqpType.TIMESTAMP: st.integers(Timestamp.MIN, Timestamp.MAX).map(Timestamp),
    AmqpType.UUID: st.uuids(),
    AmqpType.BINARY: st.binary(max_size=300),
    AmqpType.STRING: texts,
    AmqpType.SYMBOL: symbols,
    AmqpType.NULL: st.none(),
}

scalars: st.SearchStrategy[Any] = st.one_of(st.none(), *ARRAY_ITEMS.values())
descriptors = st.one_of(st.integers(ULong.MIN, ULong.MAX).map(ULong), symbols)


@st.composite
def scalar_arrays(draw: st.DrawFn) -> Array:
    element_type = draw(st.sampled_from(sorted(ARRAY_ITEMS, key=lambda t: t.value)))
    items = draw(st.lists(ARRAY_ITEMS[element_type], max_size=20))
    descriptor = draw(st.none() | descriptors)
    return Array(element_type, items, descriptor)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(scalars, children, max_size=6),
        st.builds(Described, descriptors, children),
        st.lists(st.lists(children, max_size=4), max_size=4).map(lambda xs: Array(AmqpType.LIST, xs)),
        st.lists(st.dictionaries(scalars, children, max_size=3), max_size=3).map(
            lambda xs: Array(AmqpType.MAP, xs)
        ),
        st.lists(scalar_arrays(), max_size=3).map(lambda xs: Array(AmqpType.ARRAY, xs)),
    )


amqp_values = st.recursive(scalars | scalar_arrays(), containers, max_leaves=25)


@FUZZ
@given(amqp_values)
def test_every_value_round_trips_with_exact_types(value: Any) -> None:
    encoded = encode(value)
    decoded, end = decode(encoded)
    assert end == len(encoded)
    assert typed_equal(decoded, value), (decoded, value)


@FUZZ
@given(amqp_values, st.data())
def test_every_strict_prefix_of_an_encoding_is_a_decode_error(value: Any, data: st.DataObject) -> None:
    encoded = encode(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(AmqpDecodeError):
        decode(encoded[:cut])


CONSTRUCTORS = [
    0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x60, 0x61, 0x70,
    0x71, 0x72, 0x73, 0x74, 0x80, 0x81, 0x82, 0x83, 0x84, 0x94, 0x98, 0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3,
    0xC0, 0xC1, 0xD0, 0xD1, 0xE0, 0xF0,
]  # fmt: skip
# Random bytes that start like real AMQP reach far deeper into the decoder than uniform noise.
hostile_bytes = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda head, tail: bytes(head) + tail,
        st.lists(st.sampled_from(CONSTRUCTORS), min_size=1, max_size=6),
        st.binary(max_size=200),
    ),
)


@FUZZ
@given(hostile_bytes)
def test_hostile_bytes_raise_only_amqp_decode_error(data: bytes) -> None:
    try:
        value, end = decode(data)
    except AmqpDecodeError:
        return
    assert 0 < end <= len(data)
    # Whatever decodes must re-encode to the same typed value.
    again, _ = decode(encode(value))
    assert typed_equal(again, value)


@FUZZ
@given(hostile_bytes)
def test_hostile_bytes_as_described_types_and_messages_raise_only_decode_errors(data: bytes) -> None:
    for parse in (decode_described_type, AmqpMessage.decode):
        try:
            parse(data)
        except AmqpDecodeError:
            pass


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.builds(lambda body: AMQP_HEADER + body, st.binary(max_size=400)),
        st.builds(lambda body: SASL_HEADER + body, st.binary(max_size=400)),
    ),
    st.lists(st.integers(0, 1000), max_size=8),
    st.booleans(),
)
def test_hostile_streams_raise_only_framing_error(data: bytes, cuts: list[int], expect_header: bool) -> None:
    reader = FrameReader(expect_header=expect_header)
    try:
        for chunk in chunked(data, cuts):
            for item in reader.feed(chunk):
                if isinstance(item, Frame):
                    assert item.channel >= 0
    except FramingError as exc:
        assert exc.condition.startswith("amqp:")


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 1), st.integers(0, 0xFFFF), st.integers(2, 4))
def test_frames_with_well_formed_headers_and_hostile_bodies_raise_only_framing_error(
    body: bytes, frame_type: int, channel: int, doff: int
) -> None:
    frame = struct.pack(">IBBH", 8 + (doff - 2) * 4 + len(body), doff, frame_type, channel)
    frame += b"\x00" * ((doff - 2) * 4) + body
    reader = FrameReader(1 << 16, expect_header=False)
    try:
        reader.feed(frame)
    except FramingError:
        pass


@FUZZ
@given(
    st.binary(min_size=1, max_size=5000),
    st.integers(512, 2048),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_split_transfers_reassemble_whatever_the_chunking(
    payload: bytes, limit: int, cuts: list[int]
) -> None:
    transfer = Transfer(handle=1, delivery_id=3, delivery_tag=b"tag", message_format=0)
    stream = b"".join(encode_transfer_frames(transfer, payload, max_frame_size=limit, channel=2))
    reader = FrameReader(limit, expect_header=False)
    frames = [item for chunk in chunked(stream, cuts) for item in reader.feed(chunk)]
    assert all(isinstance(frame, Frame) for frame in frames)
    assert b"".join(frame.payload for frame in frames if isinstance(frame, Frame)) == payload
    assert reader.buffered == 0


@FUZZ
@given(st.binary(max_size=2000), st.data())
def test_corrupting_one_byte_of_a_valid_stream_raises_only_framing_error(
    payload: bytes, data: st.DataObject
) -> None:
    transfer = Transfer(handle=0, delivery_id=0, delivery_tag=b"t", settled=True)
    stream = bytearray(AMQP_HEADER + encode_frame(transfer, payload=payload) + encode_frame(None))
    index = data.draw(st.integers(0, len(stream) - 1))
    stream[index] = data.draw(st.integers(0, 255))
    reader = FrameReader(1 << 16)
    try:
        reader.feed(bytes(stream))
    except FramingError:
        pass
