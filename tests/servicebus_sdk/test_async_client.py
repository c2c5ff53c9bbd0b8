"""The real azure-servicebus async client against the emulator's AMQP front."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import (
    OperationTimeoutError,
    ServiceBusAuthenticationError,
    SessionCannotBeLockedError,
)

from .conftest import Emulator

pytestmark = pytest.mark.asyncio

WAIT = 1


def client(emu: Emulator, key: str = "anything") -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(key), retry_total=0)


async def test_send_single_and_batch_then_settle_every_way(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage("complete-me", application_properties={"k": "v"}))
            batch = await sender.create_message_batch()
            for body in ("abandon-me", "dead-letter-me", "defer-me"):
                batch.add_message(ServiceBusMessage(body))
            await sender.send_messages(batch)
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            received = await receiver.receive_messages(max_message_count=4, max_wait_time=WAIT)
            by_body = {str(m): m for m in received}
            assert set(by_body) == {"complete-me", "abandon-me", "dead-letter-me", "defer-me"}
            assert by_body["complete-me"].application_properties == {b"k": b"v"}
            await receiver.complete_message(by_body["complete-me"])
            await receiver.abandon_message(by_body["abandon-me"])
            await receiver.dead_letter_message(by_body["dead-letter-me"], reason="r", error_description="d")
            await receiver.defer_message(by_body["defer-me"])
            (again,) = await receiver.receive_messages(max_wait_time=WAIT)
            assert str(again) == "abandon-me" and again.delivery_count == 1
            await receiver.complete_message(again)
            (deferred,) = await receiver.receive_deferred_messages([by_body["defer-me"].sequence_number])
            await receiver.complete_message(deferred)
        async with sb.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=WAIT) as dlq:
            (dead,) = await dlq.receive_messages(max_wait_time=WAIT)
            details = (str(dead), dead.dead_letter_reason, dead.dead_letter_error_description)
            assert details == ("dead-letter-me", "r", "d")
            await dlq.complete_message(dead)
    counts = emulator.counts(queue)
    assert (counts.active_count, counts.locked_count, counts.deferred_count, counts.dead_letter_count) == (0, 0, 0, 0)


async def test_next_available_session_and_session_lock_renewal(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages([ServiceBusMessage("s1-a", session_id="s1"),
                                        ServiceBusMessage("s2-a", session_id="s2")])
        seen = set()
        for _ in range(2):
            async with sb.get_queue_receiver(queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=WAIT) as rx:
                session_id = rx.session.session_id
                assert session_id in ("s1", "s2")
                before = rx.session.locked_until_utc
                await asyncio.sleep(0.05)
                after = await rx.session.renew_lock()
                assert before is not None and after > before
                (message,) = await rx.receive_messages(max_wait_time=WAIT)
                assert message.session_id == session_id
                await rx.complete_message(message)
                seen.add(session_id)
        assert seen == {"s1", "s2"}


async def test_no_session_available_fails_fast(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with client(emulator) as sb:
        receiver = sb.get_queue_receiver(queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(OperationTimeoutError):
            await receiver.__aenter__()
        assert loop.time() - started < 10
        await receiver.close()


async def test_session_exclusivity_between_two_receivers(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage("x", session_id="only"))
        async with sb.get_queue_receiver(queue, session_id="only", max_wait_time=WAIT) as owner:
            rival = sb.get_queue_receiver(queue, session_id="only", max_wait_time=WAIT)
            with pytest.raises(SessionCannotBeLockedError):
                await rival.__aenter__()
            await rival.close()
            await owner.session.set_state("state-1")
            assert await owner.session.get_state() == b"state-1"
        async with sb.get_queue_receiver(queue, session_id="only", max_wait_time=WAIT) as successor:
            (message,) = await successor.receive_messages(max_wait_time=WAIT)
            assert str(message) == "x"
            await successor.complete_message(message)


async def test_schedule_and_cancel_under_manual_clock(manual_emulator: Emulator) -> None:
    emu = manual_emulator
    queue = emu.queue()
    now = dt.datetime.fromtimestamp(emu.broker.clock.now(), dt.UTC)
    async with client(emu) as sb:
        async with sb.get_queue_sender(queue) as sender:
            keep, cancel = await sender.schedule_messages(
                [ServiceBusMessage("keep"), ServiceBusMessage("cancel")], now + dt.timedelta(minutes=5)
            )
            await sender.cancel_scheduled_messages(cancel)
        assert emu.counts(queue).scheduled_count == 1
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            assert await receiver.receive_messages(max_wait_time=0.3) == []
            (peeked,) = await receiver.peek_messages()
            assert peeked.sequence_number == keep
            assert peeked.scheduled_enqueue_time_utc == now + dt.timedelta(minutes=5)
            emu.advance(301)
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            assert str(message) == "keep" and message.sequence_number == keep
            await receiver.complete_message(message)


async def test_one_megabyte_message_both_directions(premium_emulator: Emulator) -> None:
    queue = premium_emulator.queue()
    body = bytes(range(256)) * 4000  # 1,024,000 bytes: several frames each way
    async with client(premium_emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(body))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=5)
            assert b"".join(message.body) == body
            await receiver.complete_message(message)


async def test_fifty_concurrent_senders_and_receivers_deliver_each_message_once(emulator: Emulator) -> None:
    queue = emulator.queue()
    per_sender = 4
    expected = {f"{s}-{i}" for s in range(50) for i in range(per_sender)}
    received: list[str] = []
    done = asyncio.Event()

    async with client(emulator) as sb:
        async def send(s: int) -> None:
            async with sb.get_queue_sender(queue) as sender:
                await sender.send_messages([ServiceBusMessage(f"{s}-{i}") for i in range(per_sender)])

        async def receive() -> None:
            async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
                while not done.is_set():
                    for message in await receiver.receive_messages(max_message_count=5, max_wait_time=0.5):
                        await receiver.complete_message(message)
                        received.append(str(message))
                    if len(received) >= len(expected):
                        done.set()

        receivers = [asyncio.ensure_future(receive()) for _ in range(50)]
        await asyncio.gather(*(send(s) for s in range(50)))
        await asyncio.wait_for(done.wait(), 60)
        await asyncio.gather(*receivers)
    assert sorted(received) == sorted(expected)
    counts = emulator.counts(queue)
    assert counts.active_count == 0 and counts.locked_count == 0


async def test_list_sessions(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages([ServiceBusMessage("1", session_id="a"), ServiceBusMessage("2", session_id="b")])
        sessions = [s async for s in sb.list_queue_sessions(queue)]
    assert sorted(sessions) == ["a", "b"]


async def test_sas_verification_rejects_wrong_key_and_accepts_right_one(secured_emulator: Emulator) -> None:
    emu = secured_emulator
    queue = emu.queue()
    async with client(emu, key="wrong-key") as sb:
        with pytest.raises(ServiceBusAuthenticationError):
            async with sb.get_queue_sender(queue) as sender:
                await sender.send_messages(ServiceBusMessage("nope"))
    async with client(emu, key="s3cret-key") as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage("yes"))
    assert emu.counts(queue).active_count == 1


async def test_without_a_key_any_token_is_accepted(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with client(emulator, key="whatever-you-like") as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage("fine"))
    assert emulator.counts(queue).active_count == 1


async def test_unknown_queue_is_not_found(emulator: Emulator) -> None:
    # As on Service Bus, the put-token for an entity that does not exist already fails (404).
    async with client(emulator) as sb:
        with pytest.raises(ServiceBusAuthenticationError) as info:
            async with sb.get_queue_sender("does-not-exist") as sender:
                await sender.send_messages(ServiceBusMessage("x"))
    assert "Status code: 404" in str(info.value.inner_exception)
