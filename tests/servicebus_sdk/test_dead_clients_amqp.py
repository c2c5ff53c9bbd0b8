"""AMQP dead clients lose and lock nothing: a receiver link detached with unsettled deliveries (the real SDK closing
its receiver) and a socket dropped in the middle of a multi-frame transfer (raw socket) return every locked message
at once, its delivery uncounted."""

from __future__ import annotations

import socket
import struct
import time

from azure.servicebus import ServiceBusClient, ServiceBusMessage
from queue_emulator.amqp.protocol import (
    AMQP_HEADER,
    SASL_HEADER,
    Attach,
    Begin,
    Flow,
    Open,
    Role,
    SaslInit,
    Source,
    encode_frame,
)

from queue_runtime.broker import BrokerMessage

from .conftest import Emulator

WAIT = 1


def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition never became true")


def test_a_receiver_detached_with_unsettled_deliveries_returns_them_at_once(emulator: Emulator) -> None:
    queue = emulator.queue(lock_seconds=300)
    sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            got = receiver.receive_messages(3, max_wait_time=WAIT)
            assert len(got) == 3
            assert emulator.counts(queue).locked_count == 3
        # detached without settling: back at once, not in five minutes
        _until(lambda: emulator.counts(queue).locked_count == 0)
        assert emulator.counts(queue).active_count == 3
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            again = receiver.receive_messages(3, max_wait_time=WAIT)
            assert sorted(str(m) for m in again) == ["m0", "m1", "m2"]
            assert [m.delivery_count for m in again] == [0, 0, 0]  # the SDK counts earlier deliveries: none
            for message in again:
                receiver.complete_message(message)


def test_a_socket_dropped_mid_transfer_returns_its_locked_messages_at_once(emulator: Emulator) -> None:
    queue = emulator.queue(lock_seconds=300)
    big = b"x" * 200_000  # many frames of 4 KiB each: the socket drops in the middle of a transfer
    emulator.call(emulator.broker.send, queue, [BrokerMessage(body=big, message_id=f"m{i}") for i in range(3)])
    sock = socket.create_connection(("127.0.0.1", emulator.port), timeout=5)
    sock.sendall(
        SASL_HEADER + encode_frame(SaslInit(mechanism="ANONYMOUS")) + AMQP_HEADER
        + encode_frame(Open(container_id="dropper", max_frame_size=4096))
        + encode_frame(Begin(next_outgoing_id=0, incoming_window=5000, outgoing_window=5000))
        + encode_frame(Attach(name="r", handle=0, role=Role.RECEIVER, snd_settle_mode=0, rcv_settle_mode=1,
                              source=Source(address=queue)))
        + encode_frame(Flow(next_incoming_id=0, incoming_window=5000, next_outgoing_id=0, outgoing_window=5000,
                            handle=0, delivery_count=0, link_credit=3))
    )
    received = 0
    while received < 60_000:  # part of the first message, well before the end of the third
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        received += len(chunk)
    assert emulator.counts(queue).locked_count == 3
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # drop it: RST, no goodbye
    sock.close()
    _until(lambda: emulator.counts(queue).locked_count == 0)
    assert emulator.counts(queue).active_count == 3
    messages = emulator.call(emulator.broker.receive, queue, 3)
    assert sorted(m.message_id for m in messages) == ["m0", "m1", "m2"]
    assert [m.delivery_count for m in messages] == [1, 1, 1]
