"""One AMQP connection cannot hold the server: handshakes have a deadline, link bookkeeping is O(1) per attach, and
a client flooding attaches does not keep the others waiting until it is done."""

from __future__ import annotations

import socket
import threading
import time

from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    SASL_HEADER,
    Attach,
    Begin,
    Flow,
    FrameReader,
    Open,
    Role,
    SaslInit,
    SaslOutcome,
    Target,
    encode_frame,
)
from queue_emulator.amqp.session import Session

from .test_server_protocol import ThreadServer, handshake_works

_HANDSHAKE = (
    SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
    + encode_frame(Open(container_id="fair", max_frame_size=1 << 20))
    + encode_frame(Begin(next_outgoing_id=0, incoming_window=1 << 20, outgoing_window=1 << 20))
)


class Peer:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = FrameReader(max_frame_size=1 << 20)
        self.sock.sendall(_HANDSHAKE)
        self.wait_for(Begin, 1)

    def wait_for(self, wanted: type, count: int) -> None:
        seen = 0
        while seen < count:
            data = self.sock.recv(1 << 20)
            assert data, "the server closed the connection"
            for item in self.reader.iter_feed(data):
                performative = getattr(item, "performative", None)
                if isinstance(performative, SaslOutcome):
                    self.reader.expect_protocol_header()
                if isinstance(performative, wanted):
                    seen += 1


def _hung_up_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_connection_that_never_finishes_its_handshake_is_dropped() -> None:
    srv = ThreadServer(handshake_timeout=0.3)
    try:
        silent = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
        assert _hung_up_within(silent, 5)
        silent.close()
        # trickling one byte at a time does not extend the deadline (each read used to get its own 60 s)
        trickler = socket.create_connection(("127.0.0.1", srv.server.port), timeout=5)
        for byte in SASL_HEADER:
            try:
                trickler.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        assert _hung_up_within(trickler, 5)
        trickler.close()
        assert handshake_works(srv)  # a client that does finish in time is served as before
    finally:
        srv.close()


class _CountingSet(set[int]):
    checks = 0

    def __contains__(self, item: object) -> bool:
        _CountingSet.checks += 1
        return super().__contains__(item)


def test_allocating_a_link_handle_does_not_scan_the_handles_in_use() -> None:
    session = Session.__new__(Session)
    Session.__init__(session, connection=None, channel=0,  # type: ignore[arg-type]
                     begin=Begin(next_outgoing_id=0, incoming_window=10, outgoing_window=10), remote_channel=0)
    session._handles = _CountingSet()
    handles = [session.allocate_handle() for _ in range(2000)]
    assert sorted(handles) == list(range(2000))
    assert _CountingSet.checks < 2 * 2000  # a scan from 0 costs about 2,000,000
    session._free_handle(7)
    assert session.allocate_handle() == 7  # freed handles are reused


def test_a_client_flooding_attaches_does_not_keep_another_client_waiting() -> None:
    srv = ThreadServer()
    try:
        port = srv.server.port
        flood, probe = Peer(port), Peer(port)
        links = 10_000
        attaches = b"".join(encode_frame(Attach(name=f"s{h}", handle=h, role=Role.SENDER,
                                                target=Target(address="$cbs"))) for h in range(links))
        answered = threading.Event()
        writer = threading.Thread(target=flood.sock.sendall, args=(attaches,))

        def read_flood() -> None:
            flood.wait_for(Attach, links)
            answered.set()

        reader = threading.Thread(target=read_flood)
        writer.start()
        reader.start()
        time.sleep(0.05)
        probe.sock.sendall(encode_frame(Flow(next_incoming_id=0, incoming_window=1000, next_outgoing_id=0,
                                             outgoing_window=1000, echo=True)))
        probe.wait_for(Flow, 1)
        assert not answered.is_set(), "the other client was answered only after the flood was done"
        writer.join()
        reader.join()
    finally:
        srv.close()
