"""Frame layer: protocol headers, frame layout, incremental reading, limits and transfer splitting."""

from __future__ import annotations

import struct

import pytest
from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    HEARTBEAT,
    MIN_MAX_FRAME_SIZE,
    SASL_HEADER,
    TLS_HEADER,
    AmqpMessage,
    Attach,
    Begin,
    Close,
    Data,
    ErrorCondition,
    Flow,
    Frame,
    FrameReader,
    FrameType,
    FramingError,
    Header,
    Open,
    Properties,
    ProtocolHeader,
    Role,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    Transfer,
    encode,
    encode_frame,
    encode_transfer_frames,
)

OPEN = Open(container_id="SBSender-1", max_frame_size=1048576, channel_max=65535)
BEGIN = Begin(next_outgoing_id=0, incoming_window=65536, outgoing_window=65536)
TRANSFER = Transfer(handle=0, delivery_id=7, delivery_tag=b"\x01" * 16, message_format=0, settled=False)


def raw_frame(
    body: bytes, *, doff: int = 2, frame_type: int = 0, channel: int = 0, size: int | None = None
) -> bytes:
    extended = b"\x00" * (doff * 4 - 8) if doff >= 2 else b""
    total = 8 + len(extended) + len(body) if size is None else size
    return struct.pack(">IBBH", total, doff, frame_type, channel) + extended + body


def test_protocol_header_constants_and_parsing() -> None:
    assert AMQP_HEADER == b"AMQP\x00\x01\x00\x00"
    assert SASL_HEADER == b"AMQP\x03\x01\x00\x00"
    reader = FrameReader()
    (header,) = reader.feed(SASL_HEADER)
    assert header == ProtocolHeader(3, 1, 0, 0)
    assert isinstance(header, ProtocolHeader)
    assert header.is_sasl and not header.is_amqp and header.is_supported_version
    assert header.to_bytes() == SASL_HEADER
    assert ProtocolHeader(0).to_bytes() == AMQP_HEADER
    assert ProtocolHeader(2).to_bytes() == TLS_HEADER
    assert not ProtocolHeader(0, 0, 9, 1).is_supported_version


def test_header_arrives_in_pieces_then_frames_follow_in_the_same_chunk() -> None:
    reader = FrameReader()
    assert reader.feed(b"AM") == []
    assert reader.feed(b"QP\x00\x01") == []
    items = reader.feed(b"\x00\x00" + encode_frame(SaslOutcome(code=0)))
    assert items[0] == ProtocolHeader(0)
    assert isinstance(items[1], Frame) and items[1].performative == SaslOutcome(code=0)


@pytest.mark.parametrize("data", [b"HTTP/1.1", b"GET ", b"X", b"AMQX"])
def test_anything_but_an_amqp_header_is_a_framing_error_as_soon_as_it_is_visible(data: bytes) -> None:
    with pytest.raises(FramingError) as caught:
        FrameReader().feed(data)
    assert caught.value.condition == ErrorCondition.FRAMING_ERROR


def test_sasl_then_amqp_header_exchange() -> None:
    reader = FrameReader()
    stream = SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS"))
    header, init = reader.feed(stream)
    assert header == ProtocolHeader(3)
    assert isinstance(init, Frame) and init.type is FrameType.SASL
    assert init.performative == SaslInit(mechanism="ANONYMOUS")
    reader.expect_protocol_header()
    reader.max_frame_size = 1 << 20
    header, opened = reader.feed(AMQP_HEADER + encode_frame(OPEN))
    assert header == ProtocolHeader(0)
    assert isinstance(opened, Frame) and opened.type is FrameType.AMQP and opened.performative == OPEN


def test_frame_layout() -> None:
    frame = encode_frame(BEGIN, channel=0x0102)
    body = BEGIN.encode()
    assert frame == struct.pack(">IBBH", 8 + len(body), 2, 0, 0x0102) + body
    sasl = encode_frame(SaslMechanisms(sasl_server_mechanisms=["ANONYMOUS"]))
    assert sasl[5] == 1  # SASL frame type
    assert encode_frame(None) == HEARTBEAT == b"\x00\x00\x00\x08\x02\x00\x00\x00"
    with_payload = encode_frame(TRANSFER, payload=b"xyz")
    assert with_payload.endswith(TRANSFER.encode() + b"xyz")


def test_reader_yields_frames_with_channel_performative_and_payload() -> None:
    reader = FrameReader(1 << 20, expect_header=False)
    stream = encode_frame(BEGIN, channel=5) + HEARTBEAT + encode_frame(TRANSFER, channel=5, payload=b"body")
    begin, heartbeat, transfer = reader.feed(stream)
    assert begin == Frame(FrameType.AMQP, 5, BEGIN, b"")
    assert isinstance(heartbeat, Frame) and heartbeat.is_heartbeat and heartbeat.performative is None
    assert isinstance(transfer, Frame) and not transfer.is_heartbeat
    assert transfer.performative == TRANSFER and transfer.payload == b"body" and transfer.channel == 5
    assert reader.buffered == 0


def test_byte_at_a_time_gives_the_same_frames_as_one_chunk() -> None:
    stream = (
        SASL_HEADER
        + encode_frame(SaslOutcome(code=0))
        + AMQP_HEADER
        + encode_frame(OPEN)
        + encode_frame(TRANSFER, channel=1, payload=b"p" * 300)
        + HEARTBEAT
    )
    whole_reader = FrameReader(1 << 20)
    whole = whole_reader.feed(stream[: 16 + 8])
    whole_reader.expect_protocol_header()
    whole += whole_reader.feed(stream[16 + 8 :])

    reader = FrameReader(1 << 20)
    pieces: list[Frame | ProtocolHeader] = []
    for index in range(len(stream)):
        got = reader.feed(stream[index : index + 1])
        pieces += got
        if any(isinstance(item, Frame) and isinstance(item.performative, SaslOutcome) for item in got):
            reader.expect_protocol_header()
    assert pieces == whole
    assert len(pieces) == 6
    assert reader.buffered == 0


def test_partial_frame_is_kept_until_complete() -> None:
    reader = FrameReader(expect_header=False)
    frame = encode_frame(Close())
    assert reader.feed(frame[:-1]) == []
    assert reader.buffered == len(frame) - 1
    assert reader.feed(frame[-1:]) == [Frame(FrameType.AMQP, 0, Close())]


def test_extended_header_is_skipped() -> None:
    reader = FrameReader(expect_header=False)
    (frame,) = reader.feed(raw_frame(BEGIN.encode(), doff=4, channel=9))
    assert isinstance(frame, Frame) and frame.performative == BEGIN and frame.channel == 9


def test_oversized_frame_is_rejected_from_its_size_field_alone() -> None:
    reader = FrameReader(MIN_MAX_FRAME_SIZE, expect_header=False)
    with pytest.raises(FramingError) as caught:
        reader.feed(struct.pack(">I", MIN_MAX_FRAME_SIZE + 1))
    assert caught.value.condition == ErrorCondition.FRAMING_ERROR
    assert "max-frame-size" in caught.value.description


def test_frame_at_exactly_max_frame_size_is_accepted() -> None:
    reader = FrameReader(MIN_MAX_FRAME_SIZE, expect_header=False)
    transfer_body = TRANSFER.encode()
    payload = b"x" * (MIN_MAX_FRAME_SIZE - 8 - len(transfer_body))
    (frame,) = reader.feed(encode_frame(TRANSFER, payload=payload))
    assert isinstance(frame, Frame) and frame.payload == payload


@pytest.mark.parametrize(
    ("data", "condition"),
    [
        (struct.pack(">IBBH", 7, 2, 0, 0), ErrorCondition.FRAMING_ERROR),  # size below the header
        (raw_frame(b"", doff=1), ErrorCondition.FRAMING_ERROR),  # data offset below 2
        (struct.pack(">IBBH", 12, 4, 0, 0) + b"\x00" * 4, ErrorCondition.FRAMING_ERROR),  # doff past size
        (raw_frame(BEGIN.encode(), frame_type=2), ErrorCondition.FRAMING_ERROR),  # unknown frame type
        (raw_frame(b"", frame_type=1), ErrorCondition.FRAMING_ERROR),  # empty SASL frame
        (raw_frame(b"\x01\x02\x03"), ErrorCondition.DECODE_ERROR),  # body is not AMQP
        (raw_frame(encode("just a string")), ErrorCondition.DECODE_ERROR),  # body is not described
        (raw_frame(Header().encode()), ErrorCondition.DECODE_ERROR),  # described, but not a performative
        (raw_frame(SaslOutcome(code=0).encode()), ErrorCondition.DECODE_ERROR),  # SASL body in AMQP frame
        (raw_frame(OPEN.encode(), frame_type=1), ErrorCondition.DECODE_ERROR),  # AMQP body in SASL frame
        (raw_frame(OPEN.encode()[:-1]), ErrorCondition.DECODE_ERROR),  # body cut short by the frame size
        (raw_frame(bytes.fromhex("005310c00401a1")), ErrorCondition.DECODE_ERROR),  # missing container-id
    ],
)
def test_malformed_frames_raise_framing_errors_with_a_condition(data: bytes, condition: str) -> None:
    reader = FrameReader(expect_header=False)
    with pytest.raises(FramingError) as caught:
        reader.feed(data)
    assert caught.value.condition == condition


def test_reader_stays_failed_after_an_error() -> None:
    reader = FrameReader(expect_header=False)
    with pytest.raises(FramingError):
        reader.feed(raw_frame(b"\xff"))
    with pytest.raises(FramingError):
        reader.feed(HEARTBEAT)


def test_max_frame_size_cannot_go_below_the_spec_minimum() -> None:
    with pytest.raises(ValueError):
        FrameReader(511)
    reader = FrameReader()
    with pytest.raises(ValueError):
        reader.max_frame_size = 100
    reader.max_frame_size = 4096
    assert reader.max_frame_size == 4096


def test_encode_frame_enforces_the_peer_limit() -> None:
    assert len(encode_frame(TRANSFER, payload=b"x" * 100, max_frame_size=512)) <= 512
    with pytest.raises(FramingError) as caught:
        encode_frame(TRANSFER, payload=b"x" * 600, max_frame_size=512)
    assert caught.value.condition == ErrorCondition.FRAME_SIZE_TOO_SMALL


def reassemble(frames: list[bytes]) -> tuple[list[Transfer], bytes]:
    reader = FrameReader(1 << 20, expect_header=False)
    transfers: list[Transfer] = []
    payload = b""
    for item in reader.feed(b"".join(frames)):
        assert isinstance(item, Frame) and isinstance(item.performative, Transfer)
        transfers.append(item.performative)
        payload += item.payload
    return transfers, payload


@pytest.mark.parametrize("limit", [512, 600, 1000, 4096])
def test_large_payload_is_split_into_frames_within_the_limit(limit: int) -> None:
    payload = bytes(range(256)) * 40
    frames = encode_transfer_frames(TRANSFER, payload, max_frame_size=limit, channel=3)
    assert len(frames) > 1
    assert all(len(frame) <= limit for frame in frames)
    assert all(struct.unpack(">I", frame[:4])[0] == len(frame) for frame in frames)
    assert all(struct.unpack(">H", frame[6:8])[0] == 3 for frame in frames)
    transfers, joined = reassemble(frames)
    assert joined == payload
    assert [t.more for t in transfers] == [True] * (len(frames) - 1) + [None]
    first, *rest = transfers
    assert (first.delivery_id, first.delivery_tag, first.message_format, first.settled) == (
        7,
        b"\x01" * 16,
        0,
        False,
    )
    assert all(t.handle == 0 and t.delivery_id is None and t.delivery_tag is None for t in rest)
    # Every frame but the last is filled to the limit.
    assert all(len(frame) == limit for frame in frames[:-1])


def test_payload_that_fits_is_one_frame_and_no_limit_means_no_split() -> None:
    body = TRANSFER.encode()
    exact = b"x" * (512 - 8 - len(body))
    assert encode_transfer_frames(TRANSFER, exact, max_frame_size=512) == [
        encode_frame(TRANSFER, payload=exact)
    ]
    assert len(encode_transfer_frames(TRANSFER, exact + b"x", max_frame_size=512)) == 2
    assert len(encode_transfer_frames(TRANSFER, b"x" * 100_000, max_frame_size=None)) == 1


def test_streaming_sender_keeps_more_on_the_last_frame() -> None:
    frames = encode_transfer_frames(
        Transfer(handle=1, delivery_id=0, delivery_tag=b"t", more=True), b"y" * 2000, max_frame_size=512
    )
    transfers, _ = reassemble(frames)
    assert all(t.more is True for t in transfers)


def test_limit_too_small_for_the_performative_is_frame_size_too_small() -> None:
    huge_tag_transfer = Transfer(handle=0, delivery_id=0, delivery_tag=b"t" * 600)
    with pytest.raises(FramingError) as caught:
        encode_transfer_frames(huge_tag_transfer, b"x" * 10, max_frame_size=512)
    assert caught.value.condition == ErrorCondition.FRAME_SIZE_TOO_SMALL


def test_message_travels_through_split_transfers() -> None:
    message = AmqpMessage(
        properties=Properties(message_id="m", to="q1"),
        application_properties={"k": "v"},
        body=[Data(b"z" * 5000)],
    )
    frames = encode_transfer_frames(TRANSFER, message.encode(), max_frame_size=1024)
    _, payload = reassemble(frames)
    assert AmqpMessage.decode(payload) == message


def test_attach_and_flow_round_trip_through_frames() -> None:
    attach = Attach(name="sender-link", handle=0, role=Role.SENDER, initial_delivery_count=0)
    flow = Flow(incoming_window=5000, next_outgoing_id=1, outgoing_window=5000, handle=0, link_credit=10)
    reader = FrameReader(1 << 16, expect_header=False)
    items = reader.feed(encode_frame(attach, channel=2) + encode_frame(flow, channel=2))
    assert [item.performative for item in items if isinstance(item, Frame)] == [attach, flow]
