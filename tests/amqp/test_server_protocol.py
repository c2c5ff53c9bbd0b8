"""The AMQP server against raw sockets: bad input closes that connection with a proper error, others live on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    HEARTBEAT,
    SASL_HEADER,
    Begin,
    Close,
    ErrorCondition,
    Frame,
    FrameReader,
    Open,
    ProtocolHeader,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    encode_frame,
)
from queue_emulator.amqp.server import AmqpServer
from queue_emulator.amqp.servicebus import create_servicebus_server

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter


class ThreadServer:
    def __init__(self, **kwargs: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> AmqpServer:
            server = create_servicebus_server(Broker(), BrokerWaiter(Broker()), port=0, **kwargs)  # type: ignore[arg-type]
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    srv = ThreadServer()
    yield srv
    srv.close()


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError("the server neither answered nor closed the connection") from None
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def parse(data: bytes) -> list[Frame | ProtocolHeader]:
    """The server's byte stream: SASL header, SASL frames, AMQP header, AMQP frames."""
    reader = FrameReader(max_frame_size=1 << 20)
    items: list[Frame | ProtocolHeader] = []
    for item in reader.iter_feed(data):
        items.append(item)
        if isinstance(item, Frame) and isinstance(item.performative, SaslOutcome):
            reader.expect_protocol_header()
    return items


def opened_socket(srv: ThreadServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
    sock.sendall(SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
                 + encode_frame(Open(container_id="fuzz", max_frame_size=1 << 20)))
    return sock


def handshake_works(srv: ThreadServer) -> bool:
    sock = opened_socket(srv)
    sock.sendall(encode_frame(Close()))
    items = parse(read_all(sock))
    sock.close()
    performatives = [i.performative for i in items if isinstance(i, Frame)]
    return (isinstance(performatives[0], SaslMechanisms) and any(isinstance(p, Open) for p in performatives)
            and isinstance(performatives[-1], Close) and performatives[-1].error is None)


def closing_error(items: list[Frame | ProtocolHeader]) -> Close | None:
    closes = [i.performative for i in items if isinstance(i, Frame) and isinstance(i.performative, Close)]
    return closes[-1] if closes else None  # type: ignore[return-value]


def test_clean_handshake_and_close(server: ThreadServer) -> None:
    assert handshake_works(server)


def test_frame_size_below_header_is_a_framing_error(server: ThreadServer) -> None:
    sock = opened_socket(server)
    sock.sendall(b"\x00\x00\x00\x04\x02\x00\x00\x00")
    close = closing_error(parse(read_all(sock)))
    sock.close()
    assert close is not None and close.error is not None
    assert close.error.condition == ErrorCondition.FRAMING_ERROR
    assert handshake_works(server)


def test_undecodable_body_is_a_decode_error(server: ThreadServer) -> None:
    sock = opened_socket(server)
    sock.sendall(b"\x00\x00\x00\x0c\x02\x00\x00\x00\x00\x53\x10\xff")
    close = closing_error(parse(read_all(sock)))
    sock.close()
    assert close is not None and close.error is not None
    assert close.error.condition == ErrorCondition.DECODE_ERROR


def test_frame_on_a_channel_without_session_is_refused(server: ThreadServer) -> None:
    sock = opened_socket(server)
    sock.sendall(encode_frame(Close(), channel=0)[:0] + encode_frame(
        Begin(remote_channel=7, next_outgoing_id=0, incoming_window=10, outgoing_window=10), channel=3))
    close = closing_error(parse(read_all(sock)))
    sock.close()
    assert close is not None and close.error is not None
    assert close.error.condition == ErrorCondition.NOT_ALLOWED


def test_wrong_protocol_header_gets_ours_and_a_hang_up(server: ThreadServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=5)
    sock.sendall(b"HTTP/1.1 GET /\r\n\r\n")
    data = read_all(sock)
    sock.close()
    assert data == b"" or data.startswith(b"AMQP")


def test_heartbeats_are_sent_at_half_the_peer_idle_timeout(server: ThreadServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=5)
    sock.sendall(SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
                 + encode_frame(Open(container_id="beat", idle_timeout=200)))
    sock.settimeout(2)
    data = b""
    while data.count(HEARTBEAT) < 2:  # a silent server fails by socket timeout
        chunk = sock.recv(4096)
        assert chunk, "the server closed the connection instead of sending heartbeats"
        data += chunk
    sock.close()
    assert data.count(HEARTBEAT) >= 2


def test_idle_connection_is_closed_with_resource_limit_exceeded() -> None:
    srv = ThreadServer(idle_timeout=0.3)
    try:
        sock = opened_socket(srv)
        items = parse(read_all(sock))
        sock.close()
        opens = [i.performative for i in items if isinstance(i, Frame) and isinstance(i.performative, Open)]
        assert opens and opens[0].idle_timeout == 300
        close = closing_error(items)
        assert close is not None and close.error is not None
        assert close.error.condition == ErrorCondition.RESOURCE_LIMIT_EXCEEDED
    finally:
        srv.close()


_PROPER = {
    ErrorCondition.FRAMING_ERROR, ErrorCondition.DECODE_ERROR, ErrorCondition.NOT_ALLOWED,
    ErrorCondition.INVALID_FIELD, ErrorCondition.UNATTACHED_HANDLE, ErrorCondition.HANDLE_IN_USE,
    ErrorCondition.WINDOW_VIOLATION, ErrorCondition.INTERNAL_ERROR, ErrorCondition.NOT_FOUND,
}
_VALID_BEGIN = encode_frame(Begin(next_outgoing_id=0, incoming_window=100, outgoing_window=100), channel=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.one_of(
        st.binary(min_size=1, max_size=200),
        st.builds(lambda n, tail: _VALID_BEGIN[:n] + tail, st.integers(1, len(_VALID_BEGIN)), st.binary(max_size=20)),
        st.builds(lambda size, body: size.to_bytes(4, "big") + b"\x02\x00\x00\x00" + body,
                  st.integers(8, 400), st.binary(max_size=400)),
    )
)
def test_fuzzed_frames_close_only_that_connection_with_a_proper_error(server: ThreadServer, garbage: bytes) -> None:
    sock = opened_socket(server)
    sock.sendall(garbage)
    sock.shutdown(socket.SHUT_WR)  # a truncated frame then ends with EOF instead of waiting forever
    items = parse(read_all(sock))
    sock.close()
    close = closing_error(items)
    if close is not None and close.error is not None:
        assert close.error.condition in _PROPER, close.error
        if close.error.condition == ErrorCondition.INTERNAL_ERROR:
            raise AssertionError(f"server bug on {garbage!r}: {close.error.description}")
    assert handshake_works(server)
