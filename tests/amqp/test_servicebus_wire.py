"""Service Bus wire details below the SDK: error fields by position, section order, typed values kept."""

from __future__ import annotations

import uuid

import pytest
from queue_emulator.amqp.protocol import (
    AmqpDecodeError,
    AmqpMessage,
    ApplicationProperties,
    Char,
    Data,
    Decimal32,
    Decimal64,
    Decimal128,
    DeliveryAnnotations,
    Described,
    Error,
    Header,
    Symbol,
    Timestamp,
    decode,
    encode,
)
from queue_emulator.amqp.protocol.performatives import Close, Rejected
from queue_emulator.amqp.servicebus.mapping import from_amqp, to_amqp

from queue_runtime.broker import Broker, ManualClock


def test_an_error_always_carries_condition_description_and_info() -> None:
    # The SDK indexes error[2] when a connection closes or a delivery is rejected.
    for performative in (Error(condition=Symbol("amqp:not-allowed")),
                         Close(error=Error(condition=Symbol("amqp:not-allowed"), description="why")),
                         Rejected(error=Error(condition=Symbol("amqp:not-allowed"), description="why"))):
        value, _ = decode(encode(performative.to_described()))
        while not (isinstance(value, Described) and value.descriptor in (0x1D, "amqp:error:list")):
            value = next(item for item in value.value if isinstance(item, Described))
        assert len(value.value) == 3


def _sections(*sections: object) -> bytes:
    return b"".join(encode(section.to_described()) for section in sections)  # type: ignore[attr-defined]


def test_delivery_annotations_after_the_body_are_accepted_once() -> None:
    payload = _sections(Header(priority=3), ApplicationProperties({"a": 1}), Data(b"body"),
                        DeliveryAnnotations({Symbol("x-d"): 1}))
    message = AmqpMessage.decode(payload)
    assert message.delivery_annotations == {"x-d": 1}
    assert message.data == [b"body"]
    with pytest.raises(AmqpDecodeError, match="repeated"):
        AmqpMessage.decode(payload + encode(DeliveryAnnotations({Symbol("x"): 2}).to_described()))
    with pytest.raises(AmqpDecodeError, match="out of order"):
        AmqpMessage.decode(_sections(Data(b"body"), Header(priority=3)))


def test_every_primitive_property_type_keeps_its_type_through_the_engine() -> None:
    properties = {
        "d32": Decimal32(b"\x22\x50\x00\x01"), "d64": Decimal64(b"\x22\x38\x00\x00\x00\x00\x00\x01"),
        "char": Char("é"), "symbol": Symbol("sym"), "timestamp": Timestamp(1_700_000_000_000),
        "uuid": uuid.UUID(int=7), "binary": b"\x00\xff", "string": "s",
        "list": [1, "a", Symbol("s")], "map": {"k": Char("c")}, "described": Described(Symbol("my:type"), "v"),
    }
    broker = Broker(ManualClock())
    broker.create_queue("q")
    broker.send("q", [from_amqp(AmqpMessage(application_properties=properties, body=[Data(b"x")]))])
    (received,) = broker.receive("q", 1)
    out = AmqpMessage.decode(to_amqp(received, with_lock=True, transfer=True).encode()).application_properties
    assert out is not None
    for name, value in properties.items():
        assert out[name] == value, name
        assert type(out[name]) is type(value), name
    assert type(out["list"][2]) is Symbol and type(out["map"]["k"]) is Char


def test_decimal128_is_re_encoded_in_the_form_the_sdk_reads() -> None:
    # 3.25 as the Python SDK's encoder writes it (binary significand 325, exponent -2 biased by 6176).
    sent = Decimal128(bytes.fromhex("303c0000000000000000000000000145"))
    broker = Broker(ManualClock())
    broker.create_queue("q")
    broker.send("q", [from_amqp(AmqpMessage(application_properties={"d": sent}, body=[Data(b"x")]))])
    (received,) = broker.receive("q", 1)
    out = AmqpMessage.decode(to_amqp(received, with_lock=True).encode()).application_properties
    assert out is not None and type(out["d"]) is Decimal128
    raw = bytes(out["d"])
    exponent = ((raw[0] & 0x7F) << 9) | ((raw[1] & 0xFE) >> 1)  # how the SDK's decoder reads it
    assert exponent - 6176 == -2 and int.from_bytes(raw[12:], "big") == 325 and raw[0] >> 7 == 0
