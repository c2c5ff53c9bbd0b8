"""Poison input over AMQP with the real SDK: a year-10000 schedule is refused at send; a stored message the AMQP front
cannot encode is dead-lettered with a reason while the SDK consumer gets every other message."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceiveMode
from azure.servicebus.exceptions import ServiceBusError

from queue_runtime.broker import BrokerMessage, dead_letter_path

from .conftest import Emulator

WAIT = 1


def test_a_schedule_in_year_10000_is_refused_and_the_queue_keeps_working(emulator: Emulator) -> None:
    queue = emulator.queue()
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
    sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusError):
            sender.send_messages(ServiceBusMessage("poison", scheduled_enqueue_time_utc=late))
        sender.send_messages(ServiceBusMessage("fine"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            assert [str(m) for m in receiver.peek_messages(10)] == ["fine"]
            got = receiver.receive_messages(10, max_wait_time=WAIT)
            assert [str(m) for m in got] == ["fine"]


@pytest.mark.parametrize("mode", [ServiceBusReceiveMode.PEEK_LOCK, ServiceBusReceiveMode.RECEIVE_AND_DELETE])
def test_a_message_amqp_cannot_encode_is_dead_lettered_and_the_others_are_delivered(
    emulator: Emulator, mode: ServiceBusReceiveMode
) -> None:
    queue = emulator.queue()
    # A lone surrogate in a text field: no front lets one in, the in-process engine does; AMQP strings are UTF-8.
    emulator.call(emulator.broker.send, queue, [
        BrokerMessage(body=b"before"),
        BrokerMessage(body=b"bad", message_id="bad", subject="half a pair \ud800"),
        BrokerMessage(body=b"after"),
    ])
    sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with sb, sb.get_queue_receiver(queue, max_wait_time=WAIT, receive_mode=mode) as receiver:
        got = []
        for _ in range(5):
            batch = receiver.receive_messages(10, max_wait_time=WAIT)
            for message in batch:
                if mode is ServiceBusReceiveMode.PEEK_LOCK:
                    receiver.complete_message(message)
            got.extend(str(m) for m in batch)
            if len(got) >= 2:
                break
    assert got == ["before", "after"]
    (dead,) = emulator.call(emulator.broker.peek, dead_letter_path(queue), 1, 10)
    assert dead.message_id == "bad" and dead.dead_letter_reason == "MessageCannotBeEncoded"
    assert "AMQP front cannot encode" in (dead.dead_letter_description or "")
    assert emulator.counts(queue).active_count == 0
