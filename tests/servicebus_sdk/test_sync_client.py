"""The real azure-servicebus sync client against the emulator's AMQP front."""

from __future__ import annotations

import datetime as dt

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import MessageLockLostError, SessionCannotBeLockedError

from .conftest import Emulator

WAIT = 1


def client(emu: Emulator) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(), retry_total=0)


def test_send_receive_complete_keeps_body_and_properties(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(
                b"payload", application_properties={"kind": "order", "n": 7, "ok": True, "f": 1.5},
                message_id="m-1", correlation_id="c-1", content_type="application/json", subject="s",
                reply_to="r", to="t", time_to_live=dt.timedelta(minutes=5),
            ))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_message_count=5, max_wait_time=WAIT)
            assert b"".join(message.body) == b"payload"
            assert message.message_id == "m-1"
            assert message.correlation_id == "c-1"
            assert message.content_type == "application/json"
            assert message.subject == "s" and message.reply_to == "r" and message.to == "t"
            assert message.time_to_live == dt.timedelta(minutes=5)
            assert message.application_properties == {b"kind": b"order", b"n": 7, b"ok": True, b"f": 1.5}
            assert message.delivery_count == 0
            assert message.sequence_number == 1
            assert message.lock_token is not None
            assert message.locked_until_utc is not None and message.enqueued_time_utc is not None
            receiver.complete_message(message)
    counts = emulator.counts(queue)
    assert counts.active_count == 0 and counts.locked_count == 0


def test_batch_send_and_receive_many(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            batch = sender.create_message_batch()
            for i in range(5):
                batch.add_message(ServiceBusMessage(f"b{i}"))
            sender.send_messages(batch)
            sender.send_messages([ServiceBusMessage(f"l{i}") for i in range(5)])
        assert emulator.counts(queue).active_count == 10
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            got: list[str] = []
            while len(got) < 10:
                messages = receiver.receive_messages(max_message_count=10, max_wait_time=WAIT)
                assert messages, f"only {got} arrived"
                for message in messages:
                    got.append(str(message))
                    receiver.complete_message(message)
    assert got == [f"b{i}" for i in range(5)] + [f"l{i}" for i in range(5)]


def test_abandon_increments_delivery_count(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("again"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (first,) = receiver.receive_messages(max_wait_time=WAIT)
            assert first.delivery_count == 0
            receiver.abandon_message(first)
            (second,) = receiver.receive_messages(max_wait_time=WAIT)
            assert second.delivery_count == 1
            assert second.sequence_number == first.sequence_number
            receiver.complete_message(second)


def test_dead_letter_with_reason_and_read_from_dead_letter_queue(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("poison", application_properties={"x": "y"}))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            receiver.dead_letter_message(message, reason="bad-input", error_description="cannot parse")
            assert receiver.receive_messages(max_wait_time=0.5) == []
        with sb.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=WAIT) as dlq:
            (dead,) = dlq.receive_messages(max_wait_time=WAIT)
            assert str(dead) == "poison"
            assert dead.dead_letter_reason == "bad-input"
            assert dead.dead_letter_error_description == "cannot parse"
            assert dead.dead_letter_source == queue
            assert dead.application_properties[b"x"] == b"y"
            dlq.complete_message(dead)
    assert emulator.counts(queue).dead_letter_count == 0


def test_receive_and_delete_mode(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
        with sb.get_queue_receiver(queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE,
                                   max_wait_time=WAIT) as receiver:
            messages = receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
            assert sorted(str(m) for m in messages) == ["a", "b"]
    counts = emulator.counts(queue)
    assert counts.active_count == 0 and counts.locked_count == 0


def test_renew_lock_and_lock_expiry_under_manual_clock(manual_emulator: Emulator) -> None:
    emu = manual_emulator
    queue = emu.queue(lock_seconds=30)
    with client(emu) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage("renewed"), ServiceBusMessage("expires")])
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            renewed, expires = receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
            before = renewed.locked_until_utc
            assert before is not None
            emu.advance(20)
            after = receiver.renew_message_lock(renewed)
            # Deadlines reach the SDK in wall-clock time (it checks locks against the machine's clock): after
            # 20 virtual seconds the renewed lock again has its full 30 s left from now.
            left = after - dt.datetime.now(dt.UTC)
            assert dt.timedelta(seconds=28) < left < dt.timedelta(seconds=31)
            emu.advance(15)  # 35 s after receive: "expires" lost its lock, "renewed" did not
            receiver.complete_message(renewed)
            with pytest.raises(MessageLockLostError):
                receiver.complete_message(expires)
            (again,) = receiver.receive_messages(max_wait_time=WAIT)
            assert str(again) == "expires" and again.delivery_count == 1
            receiver.complete_message(again)


def test_defer_and_receive_deferred(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage("later"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            seq = message.sequence_number
            receiver.defer_message(message)
            assert receiver.receive_messages(max_wait_time=0.5) == []
            (deferred,) = receiver.receive_deferred_messages([seq])
            assert str(deferred) == "later" and deferred.sequence_number == seq
            receiver.complete_message(deferred)
    assert emulator.counts(queue).deferred_count == 0


def test_sessions_by_id_state_and_exclusivity(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(f"a{i}", session_id="A") for i in range(3)])
            sender.send_messages(ServiceBusMessage("b0", session_id="B"))
        with sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT) as receiver:
            assert receiver.session.session_id == "A"
            assert receiver.session.locked_until_utc is not None
            messages = receiver.receive_messages(max_message_count=10, max_wait_time=WAIT)
            assert [str(m) for m in messages] == ["a0", "a1", "a2"]
            for message in messages:
                assert message.session_id == "A"
                receiver.complete_message(message)
            receiver.session.set_state(b"checkpoint-3")
            assert receiver.session.get_state() == b"checkpoint-3"
            renewed = receiver.session.renew_lock()
            assert renewed is not None
            rival = sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT)
            with pytest.raises(SessionCannotBeLockedError):
                rival.__enter__()
            rival.close()
        with sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT) as again:
            assert again.session.get_state() == b"checkpoint-3"


def test_peek_does_not_lock(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(f"p{i}") for i in range(3)])
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            peeked = receiver.peek_messages(max_message_count=2)
            assert [str(m) for m in peeked] == ["p0", "p1"]
            more = receiver.peek_messages(max_message_count=5)
            assert [str(m) for m in more] == ["p2"]
            assert receiver.peek_messages(max_message_count=5, sequence_number=100) == []
    assert emulator.counts(queue).active_count == 3
