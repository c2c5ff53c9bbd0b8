"""Opening many links on one AMQP session, and what the other clients of the server feel meanwhile.

Run: python benchmarks/amqp_links.py [--links N ...]
One raw-socket client pipelines N sender attaches on one session (reading every answer); a second connection
measures round trips (a flow with echo) the whole time. Link bookkeeping is O(1) per attach when the cost per
attach stays flat as N grows; "other client worst round trip" says whether the flood stalled the event loop for
anyone else. The baseline is the smallest N in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import threading
import time

from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    SASL_HEADER,
    Attach,
    Begin,
    Close,
    Flow,
    FrameReader,
    Open,
    Role,
    SaslInit,
    SaslOutcome,
    Target,
    encode_frame,
)
from queue_emulator.amqp.server import AmqpServer
from queue_emulator.amqp.servicebus import create_servicebus_server

from queue_runtime.broker import Broker
from queue_runtime.broker.waiting import BrokerWaiter

_HANDSHAKE = (
    SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
    + encode_frame(Open(container_id="bench", max_frame_size=1 << 20))
    + encode_frame(Begin(next_outgoing_id=0, incoming_window=1 << 20, outgoing_window=1 << 20))
)


class Server:
    def __init__(self) -> None:
        self.broker = Broker()
        self.broker.create_queue("q")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> AmqpServer:
            server = create_servicebus_server(self.broker, BrokerWaiter(self.broker), port=0)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Peer:
    """A raw AMQP client socket with its frame reader (which starts by expecting the SASL header)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = FrameReader(max_frame_size=1 << 20)
        self.sock.sendall(_HANDSHAKE)
        self.wait_for(Begin, 1)

    def wait_for(self, wanted: type, count: int) -> None:
        seen = 0
        while seen < count:
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("server closed the connection")
            for item in self.reader.iter_feed(data):
                performative = getattr(item, "performative", None)
                if isinstance(performative, SaslOutcome):
                    self.reader.expect_protocol_header()
                if isinstance(performative, wanted):
                    seen += 1


def flood(port: int, links: int) -> float:
    """Seconds from the first attach sent to the last attach answered."""
    peer = Peer(port)
    sock = peer.sock
    attaches = b"".join(
        encode_frame(Attach(name=f"s{h}", handle=h, role=Role.SENDER, target=Target(address="q")))
        for h in range(links)
    )
    started = time.perf_counter()
    writer = threading.Thread(target=sock.sendall, args=(attaches,))
    writer.start()
    peer.wait_for(Attach, links)
    elapsed = time.perf_counter() - started
    writer.join()
    sock.sendall(encode_frame(Close()))
    sock.close()
    return elapsed


def probe(port: int, stop: threading.Event, rtts: list[float]) -> None:
    peer = Peer(port)
    echo = encode_frame(Flow(next_incoming_id=0, incoming_window=1000, next_outgoing_id=0, outgoing_window=1000,
                             echo=True))
    while not stop.is_set():
        started = time.perf_counter()
        peer.sock.sendall(echo)
        peer.wait_for(Flow, 1)
        rtts.append(time.perf_counter() - started)
        time.sleep(0.005)
    peer.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, nargs="+", default=[1_000, 5_000, 20_000])
    args = parser.parse_args()
    rows = []
    for links in args.links:
        server = Server()
        stop, rtts = threading.Event(), []
        prober = threading.Thread(target=probe, args=(server.server.port, stop, rtts))
        prober.start()
        time.sleep(0.05)
        elapsed = flood(server.server.port, links)
        stop.set()
        prober.join()
        server.close()
        rows.append((links, elapsed, max(rtts), statistics.median(rtts)))
    base = rows[0][1] / rows[0][0]
    print(f"{'links on one session':>22} {'seconds':>9} {'us/attach':>10} {'vs baseline':>12} "
          f"{'other client worst ms':>22} {'median ms':>10}")
    for links, elapsed, worst, median in rows:
        per = elapsed / links
        print(f"{links:>22,} {elapsed:>9.2f} {per * 1e6:>10.1f} {per / base:>11.2f}x {worst * 1e3:>22.1f} "
              f"{median * 1e3:>10.2f}")


if __name__ == "__main__":
    main()
