"""Codec, described types and message format: exact encodings, typing, round trips and rejections."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from queue_emulator.amqp.protocol import (
    MAX_NESTING_DEPTH,
    Accepted,
    AmqpDecodeError,
    AmqpEncodeError,
    AmqpMessage,
    AmqpSequence,
    AmqpType,
    AmqpValue,
    ApplicationProperties,
    Array,
    Attach,
    Begin,
    Byte,
    Char,
    Close,
    Data,
    Decimal32,
    Decimal64,
    Decimal128,
    DeliveryAnnotations,
    Described,
    DescribedType,
    Detach,
    Disposition,
    End,
    Error,
    ErrorCondition,
    Float,
    Flow,
    Footer,
    Header,
    Int,
    Long,
    MessageAnnotations,
    Modified,
    Open,
    Properties,
    Received,
    Rejected,
    Released,
    Role,
    SaslChallenge,
    SaslCode,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    SaslResponse,
    SenderSettleMode,
    Short,
    Source,
    Symbol,
    Target,
    Timestamp,
    Transfer,
    UByte,
    UInt,
    ULong,
    UShort,
    WireType,
    decode,
    decode_described_type,
    described_type_for,
    encode,
    from_described,
)

LOCK_TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")


def roundtrip(value: Any) -> Any:
    encoded = encode(value)
    decoded, end = decode(encoded)
    assert end == len(encoded)
    return decoded


# ----------------------------------------------------------------------------- exact encodings

EXACT = [
    (None, "40"),
    (True, "41"),
    (False, "42"),
    (UByte(0), "5000"),
    (UByte(255), "50ff"),
    (UShort(0), "600000"),
    (UShort(65535), "60ffff"),
    (UInt(0), "43"),
    (UInt(1), "5201"),
    (UInt(255), "52ff"),
    (UInt(256), "7000000100"),
    (UInt(2**32 - 1), "70ffffffff"),
    (ULong(0), "44"),
    (ULong(255), "53ff"),
    (ULong(256), "800000000000000100"),
    (ULong(2**64 - 1), "80ffffffffffffffff"),
    (Byte(-128), "5180"),
    (Byte(127), "517f"),
    (Short(-32768), "618000"),
    (Short(32767), "617fff"),
    (Int(-128), "5480"),
    (Int(127), "547f"),
    (Int(128), "7100000080"),
    (Int(-(2**31)), "7180000000"),
    (Int(2**31 - 1), "717fffffff"),
    (0, "5500"),
    (-128, "5580"),
    (127, "557f"),
    (128, "810000000000000080"),
    (-129, "81ffffffffffffff7f"),
    (2**63 - 1, "817fffffffffffffff"),
    (-(2**63), "818000000000000000"),
    (Float(1.5), "723fc00000"),
    (1.5, "823ff8000000000000"),
    (Decimal32(b"\x01\x02\x03\x04"), "7401020304"),
    (Decimal64(bytes(range(8))), "840001020304050607"),
    (Decimal128(bytes(range(16))), "94000102030405060708090a0b0c0d0e0f"),
    (Char("a"), "7300000061"),
    (Char("\U0001f600"), "730001f600"),
    (Timestamp(1), "830000000000000001"),
    (Timestamp(-1), "83ffffffffffffffff"),
    (LOCK_TOKEN, "98" + LOCK_TOKEN.hex),
    (b"", "a000"),
    (b"ab", "a0026162"),
    ("", "a100"),
    ("ab", "a1026162"),
    ("é", "a102c3a9"),
    (Symbol(""), "a300"),
    (Symbol("ab"), "a3026162"),
    ([], "45"),
    ([None], "c0020140"),
    ([True, UInt(0)], "c003024143"),
    ({}, "c10100"),
    ({Symbol("k"): None}, "c10502a3016b40"),
    (Described(ULong(0x24), []), "00532445"),
    (Described(Symbol("x:y"), "v"), "00a303783a79a10176"),
    (Array(AmqpType.SYMBOL, [Symbol("a"), Symbol("bc")]), "e00702a3016102" + b"bc".hex()),
    (Array(AmqpType.UINT, []), "e00200" + "70"),
]


@pytest.mark.parametrize(("value", "expected"), EXACT, ids=[f"{type(v).__name__}-{h[:12]}" for v, h in EXACT])
def test_encoding_is_the_most_compact_form_and_round_trips(value: Any, expected: str) -> None:
    encoded = encode(value)
    assert encoded.hex() == expected
    decoded = roundtrip(value)
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize(
    ("short", "long", "code8", "code32"),
    [
        (b"x" * 255, b"x" * 256, "a0", "b0"),
        ("x" * 255, "x" * 256, "a1", "b1"),
        (Symbol("x" * 255), Symbol("x" * 256), "a3", "b3"),
    ],
    ids=["binary", "string", "symbol"],
)
def test_variable_width_switches_to_32_bit_form_above_255_bytes(
    short: Any, long: Any, code8: str, code32: str
) -> None:
    assert encode(short)[:2].hex() == code8 + "ff"
    assert encode(long)[:5].hex() == code32 + "00000100"
    for value in (short, long):
        decoded = roundtrip(value)
        assert decoded == value and type(decoded) is type(value)


def test_list_and_map_switch_to_32_bit_forms_at_the_boundary() -> None:
    # list8 size counts the count byte: 254 bytes of items is the most list8 holds.
    fits = [b"x" * 252]  # items: a0 fc + 252 bytes = 254 bytes
    spills = [b"x" * 253]
    assert encode(fits)[:3].hex() == "c0ff01"
    assert encode(spills)[:9].hex() == "d0" + "00000103" + "00000001"
    assert roundtrip(fits) == fits and roundtrip(spills) == spills
    many = [None] * 256
    assert encode(many)[:1].hex() == "d0"
    assert roundtrip(many) == many
    big_map = {i: None for i in range(200)}
    assert encode(big_map)[:1].hex() == "d1"
    assert roundtrip(big_map) == big_map


# ----------------------------------------------------------------------------- typing


@pytest.mark.parametrize(
    ("cls", "low", "high"),
    [
        (UByte, 0, 2**8 - 1),
        (UShort, 0, 2**16 - 1),
        (UInt, 0, 2**32 - 1),
        (ULong, 0, 2**64 - 1),
        (Byte, -(2**7), 2**7 - 1),
        (Short, -(2**15), 2**15 - 1),
        (Int, -(2**31), 2**31 - 1),
        (Long, -(2**63), 2**63 - 1),
        (Timestamp, -(2**63), 2**63 - 1),
    ],
)
def test_integer_wrappers_round_trip_their_limits_and_reject_values_past_them(
    cls: type[int], low: int, high: int
) -> None:
    for number in (low, high, (low + high) // 2):
        decoded = roundtrip(cls(number))
        assert decoded == number
        # Long is the default integer type, so it decodes to a plain int.
        assert type(decoded) is (int if cls is Long else cls)
    with pytest.raises(ValueError):
        cls(low - 1)
    with pytest.raises(ValueError):
        cls(high + 1)


def test_symbol_string_and_binary_stay_distinct() -> None:
    assert len({encode(Symbol("a")), encode("a"), encode(b"a")}) == 3
    decoded = roundtrip([Symbol("a"), "a", b"a"])
    assert [type(item) for item in decoded] == [Symbol, str, bytes]


def test_python_defaults_map_to_long_double_string_binary() -> None:
    assert encode(7)[0] == 0x55 and encode(2**40)[0] == 0x81
    assert encode(0.25)[0] == 0x82
    assert type(roundtrip(7)) is int and type(roundtrip(0.25)) is float
    assert type(roundtrip(bytearray(b"z"))) is bytes
    assert roundtrip(memoryview(b"zz")) == b"zz"
    assert roundtrip((1, "a")) == [1, "a"]


def test_int_outside_long_range_and_unknown_types_are_encode_errors() -> None:
    with pytest.raises(AmqpEncodeError):
        encode(2**63)
    with pytest.raises(AmqpEncodeError):
        encode(-(2**63) - 1)
    with pytest.raises(AmqpEncodeError):
        encode(object())
    with pytest.raises(AmqpEncodeError):
        encode("\ud800")  # a lone surrogate has no UTF-8 encoding


def test_subclasses_of_mapped_types_use_their_base_encoding() -> None:
    class Colour(enum.IntEnum):
        RED = 3

    class Frozen(Mapping[str, int]):
        def __getitem__(self, key: str) -> int:
            return {"a": 1}[key]

        def __iter__(self) -> Iterator[str]:
            return iter(["a"])

        def __len__(self) -> int:
            return 1

    assert encode(Colour.RED) == encode(3)
    assert encode(OrderedDict(a=1)) == encode({"a": 1})
    assert encode(Frozen()) == encode({"a": 1})
    assert encode(Accepted()) == encode(Described(ULong(0x24), []))


def test_datetime_encodes_as_timestamp_and_naive_means_utc() -> None:
    aware = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
    naive = aware.replace(tzinfo=None)
    decoded = roundtrip(aware)
    assert type(decoded) is Timestamp
    assert decoded.to_datetime() == aware
    assert encode(naive) == encode(aware)
    assert Timestamp.from_datetime(dt.datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC)) == 1


def test_float32_rounds_on_creation_so_round_trips_are_exact() -> None:
    value = Float(0.1)
    assert value != 0.1
    assert roundtrip(value) == value
    assert math.isinf(roundtrip(Float(math.inf)))
    assert math.isnan(roundtrip(Float(math.nan)))
    with pytest.raises(ValueError):
        Float(1e39)


def test_wrapper_construction_validates() -> None:
    with pytest.raises(ValueError):
        Char("ab")
    with pytest.raises(ValueError):
        Decimal32(b"\x00")
    assert Decimal64() == bytes(8)


# ----------------------------------------------------------------------------- non-canonical input


@pytest.mark.parametrize(
    ("hexed", "expected", "expected_type"),
    [
        ("5601", True, bool),
        ("5600", False, bool),
        ("7000000005", 5, UInt),
        ("800000000000000005", 5, ULong),
        ("7100000005", 5, Int),
        ("b00000000161", b"a", bytes),
        ("b10000000161", "a", str),
        ("b30000000161", "a", Symbol),
        ("d0000000050000000140", [None], list),
        ("c00100", [], list),
        ("d10000000400000000", {}, dict),
        ("d100000009000000025501a10178", {1: "x"}, dict),
    ],
)
def test_decoder_accepts_every_constructor_not_just_the_compact_ones(
    hexed: str, expected: Any, expected_type: type
) -> None:
    value, end = decode(bytes.fromhex(hexed))
    assert value == expected
    assert type(value) is expected_type
    assert end == len(hexed) // 2


def test_decode_honours_offset_and_accepts_any_buffer() -> None:
    data = encode("first") + encode(UInt(9))
    value, end = decode(data)
    assert (value, end) == ("first", 7)
    value, end = decode(bytearray(data), end)
    assert (value, type(value), end) == (9, UInt, len(data))
    assert decode(memoryview(data), 7)[0] == 9
    with pytest.raises(AmqpDecodeError):
        decode(data, len(data))


# ----------------------------------------------------------------------------- compounds


def test_nested_lists_and_maps_round_trip_with_types() -> None:
    value = {
        Symbol("list"): [1, [UInt(2), [Symbol("deep"), {"k": b"v"}]], None],
        "map": {ULong(1): {Timestamp(5): [True, False]}},
        b"bin-key": LOCK_TOKEN,
    }
    decoded = roundtrip(value)
    assert decoded == value
    assert type(next(iter(decoded))) is Symbol
    assert type(decoded[Symbol("list")][1][1][0]) is Symbol
    assert type(next(iter(decoded["map"][1]))) is Timestamp


def test_described_values_round_trip_including_nested_descriptors() -> None:
    value = Described(Described(Symbol("outer"), UInt(1)), [Described(ULong(0x77), "inner")])
    decoded = roundtrip(value)
    assert decoded == value
    assert type(decoded.descriptor.value) is UInt


@pytest.mark.parametrize(
    "array",
    [
        Array(AmqpType.BOOLEAN, [True, False, True]),
        Array(AmqpType.UBYTE, [UByte(0), UByte(255)]),
        Array(AmqpType.USHORT, [UShort(1), UShort(65535)]),
        Array(AmqpType.UINT, [UInt(0), UInt(2**32 - 1)]),
        Array(AmqpType.ULONG, [ULong(0), ULong(2**64 - 1)]),
        Array(AmqpType.BYTE, [Byte(-128), Byte(127)]),
        Array(AmqpType.SHORT, [Short(-1)]),
        Array(AmqpType.INT, [Int(-(2**31)), Int(2**31 - 1)]),
        Array(AmqpType.LONG, [1, -(2**63), 2**63 - 1]),
        Array(AmqpType.FLOAT, [Float(1.5), Float(-0.25)]),
        Array(AmqpType.DOUBLE, [1.5, -1e300]),
        Array(AmqpType.CHAR, [Char("a"), Char("\U0001f600")]),
        Array(AmqpType.TIMESTAMP, [Timestamp(0), Timestamp(1700000000000)]),
        Array(AmqpType.UUID, [LOCK_TOKEN, uuid.UUID(int=0)]),
        Array(AmqpType.DECIMAL32, [Decimal32(b"abcd")]),
        Array(AmqpType.DECIMAL64, [Decimal64(b"abcdefgh")]),
        Array(AmqpType.DECIMAL128, [Decimal128(b"abcdefghijklmnop")]),
        Array(AmqpType.BINARY, [b"", b"x" * 300]),
        Array(AmqpType.STRING, ["a", "é"]),
        Array(AmqpType.SYMBOL, [Symbol("s") for _ in range(300)]),
        Array(AmqpType.NULL, [None, None]),
        Array(AmqpType.LIST, [[], [1, "a"], [None] * 300]),
        Array(AmqpType.MAP, [{}, {Symbol("k"): 1}]),
        Array(AmqpType.ARRAY, [Array(AmqpType.UINT, [UInt(1)]), Array(AmqpType.SYMBOL, [])]),
        Array(AmqpType.LIST, [[1], [2]], descriptor=ULong(0x24)),
        Array(AmqpType.STRING, ["f"], descriptor=Symbol("com.example:filter")),
        Array(AmqpType.UINT, []),
    ],
    ids=lambda array: f"{array.element_type.value}-{len(array.items)}-{array.descriptor is not None}",
)
def test_arrays_of_every_element_type_round_trip_with_typed_items(array: Array) -> None:
    decoded = roundtrip(array)
    assert decoded == array
    assert decoded.element_type is array.element_type
    assert [type(item) for item in decoded.items] == [type(item) for item in array.items]


def test_array_layout_shares_one_constructor_and_one_descriptor() -> None:
    encoded = encode(Array(AmqpType.LIST, [[], []], descriptor=ULong(0x24)))
    # array8, size, count 2, descriptor 0x00 smallulong 0x24, element constructor list8, two empty bodies
    assert encoded.hex() == "e00902" + "005324" + "c0" + "0100" + "0100"
    uints = encode(Array(AmqpType.UINT, [UInt(1), UInt(2)]))
    assert uints.hex() == "e00a0270" + "00000001" + "00000002"


def test_arrays_reject_items_of_the_wrong_shape() -> None:
    with pytest.raises(AmqpEncodeError):
        encode(Array(AmqpType.UBYTE, [256]))
    with pytest.raises(AmqpEncodeError):
        encode(Array(AmqpType.UUID, [b"short"]))
    with pytest.raises(AmqpEncodeError):
        encode(Array(AmqpType.NULL, [1]))
    with pytest.raises(AmqpEncodeError):
        encode(Array(AmqpType.ARRAY, [[1]]))


@pytest.mark.parametrize(
    ("hexed", "expected"),
    [
        ("e0020340", Array(AmqpType.NULL, [None, None, None])),
        ("e0020241", Array(AmqpType.BOOLEAN, [True, True])),
        ("e0020243", Array(AmqpType.UINT, [UInt(0), UInt(0)])),
        ("e0020245", Array(AmqpType.LIST, [[], []])),
        ("e00402520107", Array(AmqpType.UINT, [UInt(1), UInt(7)])),
        ("f0000000070000000256" + "0100", Array(AmqpType.BOOLEAN, [True, False])),
    ],
)
def test_arrays_with_compact_or_zero_width_element_constructors_decode(hexed: str, expected: Array) -> None:
    value, _ = decode(bytes.fromhex(hexed))
    assert value == expected
    assert [type(item) for item in value.items] == [type(item) for item in expected.items]


# ----------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    "hexed",
    [
        "",
        "01",  # no such constructor
        "70000001",  # truncated uint
        "a005616263",  # vbin8 claims 5 bytes, has 3
        "a102c328",  # invalid UTF-8
        "7300110000",  # char beyond U+10FFFF
        "5602",  # boolean octet must be 0 or 1
        "c0050141",  # list8 size runs past the data
        "c0030241",  # list8 with 2 items but only one present
        "c0030141" + "41",  # list8 size says 2 bytes, one item of 1 byte: size mismatch
        "c00001",  # list8 size cannot even hold its count
        "c10301" + "4141",  # map with an odd count
        "c10504" + "55015501",  # duplicate map keys
        "c10702" + "c0020140" + "41",  # unhashable (list) map key
        "c10502" + "5501" + "41" + "c10502" + "4141",  # keys equal as Python values (1 and True)
        "e0020270",  # array of 2 uints with no item bytes
        "e003017000",  # array item bytes do not match width
        "e0020100",  # array constructor is another descriptor marker... then truncated
        "e00201ff",  # unknown array element constructor
        "f0" + "00000005" + "00100000" + "40",  # a million zero-width items from 9 bytes
        "d0" + "ffffffff" + "00000001" + "40",  # list32 size larger than the data
        "00",  # described value with no descriptor
        "005310",  # described value with no value
        "98" + "00" * 15,  # truncated uuid
    ],
)
def test_malformed_input_raises_only_amqp_decode_error(hexed: str) -> None:
    with pytest.raises(AmqpDecodeError):
        decode(bytes.fromhex(hexed))


def test_every_strict_prefix_of_an_encoding_is_rejected() -> None:
    value = {
        Symbol("a"): [UInt(1), ULong(300), "text", b"bin", Array(AmqpType.SYMBOL, [Symbol("x")])],
        "b": Described(ULong(0x77), {1: LOCK_TOKEN, 2: Timestamp(3), 3: Float(2.0), 4: Char("c")}),
    }
    encoded = encode(value)
    for cut in range(len(encoded)):
        with pytest.raises(AmqpDecodeError):
            decode(encoded[:cut])


def test_nesting_depth_is_capped() -> None:
    shallow: list[Any] = []
    for _ in range(MAX_NESTING_DEPTH - 1):
        shallow = [shallow]
    assert roundtrip(shallow) == shallow
    too_deep: list[Any] = []
    for _ in range(MAX_NESTING_DEPTH + 5):
        too_deep = [too_deep]
    with pytest.raises(AmqpDecodeError, match="nested"):
        decode(encode(too_deep))
    described = bytes.fromhex("00") * 500 + bytes.fromhex("4040")
    with pytest.raises(AmqpDecodeError, match="nested"):
        decode(described)


# ----------------------------------------------------------------------------- described types

SOURCE = Source(
    address="amqps://127.0.0.1:5672/q1",
    durable=0,
    expiry_policy=Symbol("link-detach"),
    timeout=0,
    dynamic=False,
    dynamic_node_properties={"lifetime-policy": Described(ULong(0x2B), [])},
    distribution_mode=Symbol("move"),
    filters={"com.microsoft:session-filter": "session-1"},
    default_outcome=Modified(delivery_failed=True),
    outcomes=["amqp:accepted:list", "amqp:rejected:list"],
    capabilities=["queue"],
)
TARGET = Target(
    address="q1",
    durable=2,
    expiry_policy="never",
    timeout=30,
    dynamic=True,
    dynamic_node_properties={"x": 1},
    capabilities=["topic"],
)
ERROR = Error(condition=ErrorCondition.NOT_FOUND, description="no such queue", info={"tracking-id": "abc"})

EVERY_DESCRIBED_TYPE: list[DescribedType] = [
    Open(
        container_id="SBReceiver-1",
        hostname="127.0.0.1",
        max_frame_size=1048576,
        channel_max=65535,
        idle_timeout=120000,
        outgoing_locales=["en-US"],
        incoming_locales=["en-US", "de-DE"],
        offered_capabilities=["ANONYMOUS-RELAY"],
        desired_capabilities=["com.microsoft:session-filter"],
        properties={"product": "queue-runtime", "version": 1},
    ),
    Begin(
        remote_channel=3,
        next_outgoing_id=0,
        incoming_window=65536,
        outgoing_window=65536,
        handle_max=4294967295,
        offered_capabilities=["a"],
        desired_capabilities=["b"],
        properties={"p": True},
    ),
    Attach(
        name="receiver-link-1",
        handle=7,
        role=Role.RECEIVER,
        snd_settle_mode=SenderSettleMode.UNSETTLED,
        rcv_settle_mode=1,
        source=SOURCE,
        target=TARGET,
        unsettled={b"tag-1": Accepted(), b"tag-2": None, b"tag-3": Rejected(error=ERROR)},
        incomplete_unsettled=False,
        initial_delivery_count=0,
        max_message_size=262144,
        offered_capabilities=["x"],
        desired_capabilities=["y"],
        properties={"com.microsoft:receiver-name": "r", "com.microsoft:timeout": UInt(5000)},
    ),
    Flow(
        next_incoming_id=1,
        incoming_window=2,
        next_outgoing_id=3,
        outgoing_window=4,
        handle=5,
        delivery_count=6,
        link_credit=7,
        available=8,
        drain=True,
        echo=False,
        properties={"k": "v"},
    ),
    Transfer(
        handle=0,
        delivery_id=2**32 - 1,
        delivery_tag=LOCK_TOKEN.bytes_le,
        message_format=0x80013700,
        settled=False,
        more=True,
        rcv_settle_mode=1,
        state=Received(section_number=1, section_offset=2**40),
        resume=False,
        aborted=False,
        batchable=True,
    ),
    Disposition(
        role=Role.SENDER,
        first=10,
        last=20,
        settled=True,
        state=Modified(delivery_failed=True, undeliverable_here=False, message_annotations={"x-opt-a": 1}),
        batchable=False,
    ),
    Detach(handle=1, closed=True, error=ERROR),
    End(error=ERROR),
    Close(error=Error(condition=ErrorCondition.FRAMING_ERROR)),
    SaslMechanisms(sasl_server_mechanisms=["ANONYMOUS", "PLAIN"]),
    SaslInit(mechanism="ANONYMOUS", initial_response=b"\x00user\x00pw", hostname="127.0.0.1"),
    SaslChallenge(challenge=b"challenge"),
    SaslResponse(response=b"response"),
    SaslOutcome(code=SaslCode.OK, additional_data=b"welcome"),
    ERROR,
    SOURCE,
    TARGET,
    Received(section_number=0, section_offset=0),
    Accepted(),
    Rejected(error=Error(condition="com.microsoft:dead-letter", info={"DeadLetterReason": "r"})),
    Released(),
    Modified(delivery_failed=True, undeliverable_here=True),
    Header(durable=True, priority=9, ttl=60000, first_acquirer=False, delivery_count=3),
    Properties(
        message_id=ULong(42),
        user_id=b"user",
        to="q1",
        subject="subject",
        reply_to="q1-reply",
        correlation_id=LOCK_TOKEN,
        content_type="application/json",
        content_encoding="utf-8",
        absolute_expiry_time=Timestamp(1700000000000),
        creation_time=Timestamp(1600000000000),
        group_id="session-1",
        group_sequence=4,
        reply_to_group_id="session-2",
    ),
    DeliveryAnnotations({"x-opt-d": 1}),
    MessageAnnotations({"x-opt-sequence-number": 5, 77: "ulong key"}),
    ApplicationProperties({"operation": "com.microsoft:renew-lock", "n": None}),
    Data(b"payload"),
    AmqpSequence([1, "two", [3]]),
    AmqpValue({"lock-tokens": Array(AmqpType.UUID, [LOCK_TOKEN])}),
    AmqpValue(None),
    Footer({"x-footer": b"sig"}),
]


@pytest.mark.parametrize("value", EVERY_DESCRIBED_TYPE, ids=lambda v: type(v).__name__)
def test_every_described_type_round_trips_by_code_and_by_symbolic_name(value: DescribedType) -> None:
    encoded = value.encode()
    # Codes below 256 go out as smallulong: the SDK reads the descriptor at a fixed byte offset.
    assert encoded[:3] == bytes((0x00, 0x53, type(value).DESCRIPTOR))
    decoded, end = decode_described_type(encoded)
    assert end == len(encoded)
    assert decoded == value
    assert type(decoded) is type(value)
    raw, _ = decode(encoded)
    by_name = from_described(Described(type(value).SYMBOLIC, raw.value))
    assert by_name == value


def test_descriptor_lookup_uses_ulong_code_or_symbolic_name_only() -> None:
    assert described_type_for(ULong(0x10)) is Open
    assert described_type_for(0x14) is Transfer
    assert described_type_for(Symbol("amqp:transfer:list")) is Transfer
    assert described_type_for("amqp:amqp-value:*") is AmqpValue
    assert described_type_for(True) is None
    assert described_type_for(b"amqp:open:list") is None
    assert described_type_for(0x99) is None


def test_fields_go_out_with_their_spec_types() -> None:
    attach = EVERY_DESCRIBED_TYPE[2]
    raw, _ = decode(attach.encode())
    fields = raw.value
    assert [type(item) for item in fields[:5]] == [str, UInt, bool, UByte, UByte]
    assert fields[5].descriptor == 0x28 and type(fields[5].descriptor) is ULong
    assert type(fields[9]) is UInt and type(fields[10]) is ULong
    assert fields[11] == Array(AmqpType.SYMBOL, [Symbol("x")])
    assert all(type(key) is Symbol for key in fields[13])
    assert type(fields[13][Symbol("com.microsoft:timeout")]) is UInt
    source = fields[5].value
    assert type(source[2]) is Symbol and type(source[6]) is Symbol
    assert all(type(key) is Symbol for key in source[7])

    open_fields = decode(Open(container_id="c", max_frame_size=512, channel_max=7).encode())[0].value
    assert [type(item) for item in open_fields] == [str, type(None), UInt, UShort]

    props = decode(Properties(message_id=5, content_type="text/plain", creation_time=0).encode())[0].value
    assert type(props[0]) is ULong and type(props[6]) is Symbol and type(props[9]) is Timestamp

    header = decode(Header(priority=4, ttl=1, delivery_count=0).encode())[0].value
    assert [type(item) for item in header] == [type(None), UByte, UInt, type(None), UInt]

    error = decode(Error(condition="amqp:not-found", description=Symbol("d")).encode())[0].value
    assert [type(item) for item in error] == [Symbol, str, type(None)]  # info always written (the SDK indexes it)

    app = decode(ApplicationProperties({Symbol("k"): 1}).encode())[0].value
    assert [type(key) for key in app] == [str]


def test_trailing_absent_fields_are_trimmed_and_inner_ones_are_null() -> None:
    assert Open(container_id="c").encode().hex() == "005310" + "c00401a10163"
    begin = Begin(next_outgoing_id=1, incoming_window=2, outgoing_window=3).encode()
    assert begin.hex() == "005311" + "c00804" + "40" + "5201" + "5202" + "5203"
    assert Accepted().encode().hex() == "00532445"
    assert (
        Flow(incoming_window=0, next_outgoing_id=0, outgoing_window=0).encode().hex()
        == "005313c005044043" + "4343"
    )


def test_decoded_fields_are_coerced_to_their_python_types() -> None:
    decoded, _ = decode_described_type(
        encode(
            Described(
                ULong(0x12),
                ["n", UInt(0), False, None, None, None, None, None, None, None, None, Symbol("c")],
            )
        )
    )
    assert isinstance(decoded, Attach)
    assert decoded.offered_capabilities == [Symbol("c")]
    assert type(decoded.offered_capabilities[0]) is Symbol
    assert type(decoded.handle) is int


@pytest.mark.parametrize(
    "raw",
    [
        Described(ULong(0x10), []),  # open without its mandatory container-id
        Described(ULong(0x12), ["n", "not a uint", False]),
        Described(ULong(0x12), ["n", UInt(0), 1]),  # role must be a boolean
        Described(ULong(0x12), ["n", -1, False]),  # handle out of uint range
        Described(ULong(0x14), [UInt(0), None, "tag is not binary"]),
        Described(ULong(0x16), [UInt(0), None, Described(ULong(0x24), [])]),  # error field holding accepted
        Described(ULong(0x16), [UInt(0), None, "not described"]),
        Described(ULong(0x10), "not a list"),
        Described(ULong(0x75), None),  # data section must hold binary
        Described(ULong(0x74), ["not", "a map"]),
        Described(ULong(0x99), []),  # unknown descriptor
        Described(Symbol("amqp:unknown:list"), []),
    ],
)
def test_invalid_described_values_raise_decode_errors(raw: Described) -> None:
    with pytest.raises(AmqpDecodeError):
        decode_described_type(encode(raw))


def test_unknown_extension_types_in_open_slots_stay_raw() -> None:
    coordinator = Described(ULong(0x30), [Array(AmqpType.SYMBOL, [Symbol("amqp:local-transactions")])])
    declared = Described(ULong(0x33), [b"txn"])
    encoded = encode(Described(ULong(0x12), ["n", UInt(0), False, None, None, None, coordinator]))
    attach, _ = decode_described_type(encoded)
    assert isinstance(attach, Attach) and attach.target == coordinator
    transfer = Transfer(handle=0, state=declared)
    assert decode_described_type(transfer.encode())[0] == transfer


def test_encoding_rejects_missing_mandatory_fields_and_wrong_types() -> None:
    with pytest.raises(AmqpEncodeError, match="container_id"):
        Open(container_id=None).encode()  # type: ignore[arg-type]
    with pytest.raises(AmqpEncodeError, match="handle"):
        Transfer(handle=-1).encode()
    with pytest.raises(AmqpEncodeError):
        Attach(name="n", handle=0, role=1).encode()  # type: ignore[arg-type]
    with pytest.raises(AmqpEncodeError):
        Open(container_id="c", properties={1: "non-symbol key"}).encode()
    with pytest.raises(AmqpEncodeError):
        Data(None).encode()  # type: ignore[arg-type]


def test_missing_trailing_fields_decode_as_absent() -> None:
    decoded, _ = decode_described_type(bytes.fromhex("005314" + "c0020143"))
    assert decoded == Transfer(handle=0)
    with pytest.raises(AmqpDecodeError, match="handle"):
        decode_described_type(bytes.fromhex("005314" + "45"))
    # Extra trailing fields come from a later protocol revision and are ignored.
    assert decode_described_type(bytes.fromhex("005324" + "c0020140"))[0] == Accepted()


# ----------------------------------------------------------------------------- messages


def full_message() -> AmqpMessage:
    return AmqpMessage(
        header=Header(durable=True, delivery_count=1),
        delivery_annotations={"x-opt-lock-token": LOCK_TOKEN},
        message_annotations={
            "x-opt-sequence-number": 12,
            "x-opt-enqueued-time": Timestamp(1700000000000),
            "x-opt-locked-until": Timestamp(1700000060000),
        },
        properties=Properties(message_id="m-1", correlation_id="c-1", content_type="application/json"),
        application_properties={"DeadLetterReason": "because", "count": 3},
        body=[Data(b"part-1"), Data(b"part-2" * 100)],
        footer={"x-hash": b"\x00\x01"},
    )


def test_message_round_trips_with_every_section() -> None:
    message = full_message()
    decoded = AmqpMessage.decode(message.encode())
    assert decoded == message
    assert decoded.data == [b"part-1", b"part-2" * 100]
    assert decoded.value is None
    assert type(next(iter(decoded.message_annotations or {}))) is Symbol
    assert type(next(iter(decoded.application_properties or {}))) is str


@pytest.mark.parametrize(
    "body",
    [
        [AmqpValue("SharedAccessSignature sr=x")],
        [AmqpValue(None)],
        [AmqpSequence([1, 2]), AmqpSequence(["three"])],
        [],
    ],
)
def test_message_body_kinds_round_trip(body: list[Any]) -> None:
    message = AmqpMessage(properties=Properties(message_id=ULong(1)), body=body)
    decoded = AmqpMessage.decode(message.encode())
    assert decoded == message
    assert decoded.value == (body[0].value if body and isinstance(body[0], AmqpValue) else None)


def test_message_encoding_is_a_plain_concatenation_of_sections() -> None:
    message = AmqpMessage(application_properties={"a": 1}, body=[Data(b"x")])
    assert message.encode() == ApplicationProperties({"a": 1}).encode() + Data(b"x").encode()
    assert message.encode().hex() == "005374" + "c10602a1016155" + "01" + "005375" + "a00178"


@pytest.mark.parametrize(
    "sections",
    [
        [Properties(), Header()],  # out of order
        [Header(), Header()],  # repeated
        [Data(b"a"), AmqpValue(1)],  # mixed body kinds
        [AmqpValue(1), AmqpValue(2)],  # more than one amqp-value
        [Data(b"a"), Footer({}), Data(b"b")],  # body after the footer
        [Open(container_id="c")],  # not a message section
    ],
)
def test_malformed_messages_are_rejected(sections: list[DescribedType]) -> None:
    with pytest.raises(AmqpDecodeError):
        AmqpMessage.decode(b"".join(section.encode() for section in sections))


def test_message_sections_must_be_described() -> None:
    with pytest.raises(AmqpDecodeError):
        AmqpMessage.decode(encode("bare string") + Data(b"x").encode())
    with pytest.raises(AmqpDecodeError):
        AmqpMessage.decode(Data(b"x").encode()[:-1])


def test_sdk_codec_agrees_with_ours_in_both_directions() -> None:
    """Dev-only cross-check against the azure-servicebus private codec (it decodes strings as bytes)."""
    sdk_decode = pytest.importorskip("azure.servicebus._pyamqp._decode")
    sdk_encode = pytest.importorskip("azure.servicebus._pyamqp._encode")
    sdk_message = pytest.importorskip("azure.servicebus._pyamqp.message")

    ours = full_message()
    theirs = sdk_decode.decode_payload(memoryview(ours.encode()))
    assert theirs.header.durable is True and theirs.header.delivery_count == 1
    assert theirs.message_annotations[b"x-opt-sequence-number"] == 12
    assert theirs.message_annotations[b"x-opt-enqueued-time"] == 1700000000000
    assert theirs.properties.message_id == b"m-1"
    assert theirs.application_properties[b"count"] == 3
    assert theirs.data == [b"part-1", b"part-2" * 100]

    sdk_built = sdk_message.Message(
        data=[b"abc"],
        properties=sdk_message.Properties(message_id="id-1", absolute_expiry_time=5),
        application_properties={"k": "v"},
        message_annotations={"x-opt-partition-key": "p"},
    )
    decoded = AmqpMessage.decode(bytes(sdk_encode.encode_payload(bytearray(), sdk_built)))
    assert decoded.data == [b"abc"]
    assert decoded.properties is not None and decoded.properties.message_id == "id-1"
    assert decoded.properties.absolute_expiry_time == 5
    assert decoded.application_properties == {"k": "v"}
    assert decoded.message_annotations == {Symbol("x-opt-partition-key"): "p"}

    frame_body = Disposition(
        role=Role.SENDER,
        first=4,
        settled=True,
        state=Rejected(error=Error(condition="com.microsoft:dead-letter", info={"DeadLetterReason": "r"})),
    ).encode()
    code, fields = sdk_decode.decode_frame(memoryview(frame_body))
    assert code == 0x15
    assert fields[:4] == [False, 4, None, True]
    assert fields[4] == {"rejected": [[b"com.microsoft:dead-letter", None, {b"DeadLetterReason": b"r"}]]}


def test_value_helpers_ignore_other_body_kinds() -> None:
    message = AmqpMessage(body=[AmqpSequence([1])])
    assert message.data == []
    assert message.value is None


def test_field_metadata_exposes_wire_order_and_types() -> None:
    wire = [(f.name, f.metadata["amqp_type"], f.metadata["mandatory"]) for f in dataclasses.fields(Transfer)]
    assert wire[:4] == [
        ("handle", WireType.UINT, True),
        ("delivery_id", WireType.UINT, False),
        ("delivery_tag", WireType.BINARY, False),
        ("message_format", WireType.UINT, False),
    ]
    assert [name for name, _, _ in wire][-3:] == ["resume", "aborted", "batchable"]
    assert (Transfer.DESCRIPTOR, Transfer.SYMBOLIC) == (0x14, "amqp:transfer:list")
