"""The public API as the README shows it, on the in-memory provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from queue_runtime import (
    InMemoryConfig,
    Message,
    QueueClientFactory,
    QueueConfig,
    QueueName,
    SessionId,
)
from queue_runtime.errors import (
    BatchTooLargeError,
    MessageDecodeError,
    MessageLockLostError,
    MessageTooLargeError,
    OperationTimeoutError,
    SessionCannotBeLockedError,
    UnsupportedOperationError,
    ValidationError,
)


class OrderPlaced(BaseModel):
    order_id: int
    customer: str


@pytest.mark.asyncio
async def test_readme_tour_works_as_written() -> None:
    client = await QueueClientFactory.create_client(QueueConfig(provider=InMemoryConfig()))
    queue = QueueName("my-queue")
    await client.create_queue(queue)
    message_id = await client.send_message(queue, Message(b"Hello, Queue!"))
    received = await client.receive_message(queue, timeout=timedelta(seconds=30))
    assert received is not None and received.body == b"Hello, Queue!" and received.message_id == message_id
    await client.complete_message(received.receipt_handle)

    await client.create_queue("orders", requires_session=True)
    for i in range(3):
        await client.send_message("orders", Message(f"step {i}".encode(), session_id=SessionId("order-12345")))
    session = await client.accept_session("orders", SessionId("order-12345"))
    seen = []
    while (msg := await session.receive_message(timedelta(seconds=0.05))) is not None:
        seen.append(msg.body)
        await session.complete_message(msg.receipt_handle)
    assert seen == [b"step 0", b"step 1", b"step 2"]
    await session.close()
    await client.aclose()


@pytest.mark.asyncio
async def test_every_field_round_trips() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        sent = Message(
            b"\x00\xff binary",
            attributes={"event": "push", "repo.name": "a/b"},
            correlation_id="corr-1",
            message_id="msg-1",
            time_to_live=timedelta(minutes=5),
            content_type="application/octet-stream",
        )
        await client.send_message("q", sent)
        [got] = await client.receive_messages("q", 10, timeout=0)
        assert got.body == sent.body and dict(got.attributes) == dict(sent.attributes)
        assert (got.correlation_id, got.message_id, got.content_type) == ("corr-1", "msg-1", sent.content_type)
        assert got.time_to_live == timedelta(minutes=5)
        assert got.delivery_count == 1 and got.sequence_number == 1
        assert got.locked_until is not None and got.locked_until > datetime.now(UTC)
        assert got.enqueued_time <= datetime.now(UTC)
        assert got.to_message().body == sent.body


@pytest.mark.asyncio
async def test_typed_payloads_round_trip_and_bad_bodies_raise_decode_errors() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        await client.send_message("q", Message.from_model(OrderPlaced(order_id=7, customer="ada")))
        await client.send_message("q", Message(b'{"order_id": "seven"}'))
        first, second = await client.receive_messages("q", 2, timeout=0)
        assert first.content_type == "application/json"
        assert first.model(OrderPlaced) == OrderPlaced(order_id=7, customer="ada")
        with pytest.raises(MessageDecodeError, match="does not fit OrderPlaced"):
            second.model(OrderPlaced)


@pytest.mark.asyncio
async def test_long_poll_wakes_when_a_message_arrives() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        receiver = asyncio.create_task(client.receive_message("q", timeout=10))
        await asyncio.sleep(0.05)
        assert not receiver.done()
        await client.send_message("q", Message(b"wake"))
        received = await asyncio.wait_for(receiver, 1)
        assert received is not None and received.body == b"wake"


@pytest.mark.asyncio
async def test_empty_receive_returns_none_after_the_timeout() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        assert await client.receive_message("q", timeout=0.05) is None


@pytest.mark.asyncio
async def test_manual_clock_drives_lock_expiry_and_scheduling() -> None:
    async with await QueueClientFactory.create_client("memory://?clock=manual") as client:
        await client.create_queue("q", lock_duration=timedelta(seconds=30))
        now = await client.clock.now()
        seq = await client.schedule_message("q", Message(b"later"), now + timedelta(minutes=1))
        assert seq == 1 and await client.receive_message("q", 0) is None
        await client.clock.advance(timedelta(minutes=1))
        received = await client.receive_message("q", 0)
        assert received is not None and received.body == b"later"
        await client.clock.advance(timedelta(seconds=31))
        with pytest.raises(MessageLockLostError):
            await client.complete_message(received)
        again = await client.receive_message("q", 0)
        assert again is not None and again.delivery_count == 2


@pytest.mark.asyncio
async def test_clock_advance_wakes_a_waiting_receiver() -> None:
    async with await QueueClientFactory.create_client("memory://?clock=manual") as client:
        await client.create_queue("q")
        now = await client.clock.now()
        await client.schedule_message("q", Message(b"s"), now + timedelta(hours=1))
        receiver = asyncio.create_task(client.receive_message("q", timeout=10))
        await asyncio.sleep(0.02)
        await client.clock.advance(timedelta(hours=1))
        received = await asyncio.wait_for(receiver, 1)
        assert received is not None and received.body == b"s"


@pytest.mark.asyncio
async def test_dead_letter_and_read_back_and_resubmit() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        await client.send_message("q", Message(b"bad"))
        received = await client.receive_message("q", 0)
        assert received is not None
        await client.dead_letter_message(received, "SchemaInvalid", "missing field 'id'")
        [dead] = await client.receive_dead_letter_messages("q", timeout=0)
        assert (dead.dead_letter_reason, dead.dead_letter_description) == ("SchemaInvalid", "missing field 'id'")
        assert "DeadLetterReason" not in dead.attributes
        await client.send_message("q", dead.to_message(message_id=None))
        await client.complete_message(dead)
        again = await client.receive_message("q", 0)
        assert again is not None and again.body == b"bad"
        props = await client.get_queue("q")
        assert props.dead_letter_count == 0 and props.locked_count == 1


@pytest.mark.asyncio
async def test_peek_defer_and_renew() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q")
        await client.send_messages("q", [Message(b"a"), Message(b"b")])
        peeked = await client.peek_messages("q", 10)
        assert [p.body for p in peeked] == [b"a", b"b"] and peeked[0].state == "active"
        a = await client.receive_message("q", 0)
        assert a is not None
        before = a.locked_until
        renewed = await client.renew_message_lock(a)
        assert before is not None and renewed >= before
        seq = await client.defer_message(a)
        [back] = await client.receive_deferred_messages("q", [seq])
        assert back.body == b"a"
        await client.complete_message(back)


@pytest.mark.asyncio
async def test_sessions_next_available_exclusivity_state_and_timeouts() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("s", requires_session=True)
        await client.send_message("s", Message(b"1", session_id="alpha"))
        async with await client.accept_session("s") as session:
            assert session.session_id == "alpha"
            assert session.session_expires_at is not None
            with pytest.raises(SessionCannotBeLockedError):
                await client.accept_session("s", "alpha")
            await session.set_session_state("checkpoint")
            assert await session.get_session_state() == b"checkpoint"
            renewed = await session.renew_session_lock()
            assert renewed == session.session_expires_at
        assert await client.try_accept_session("s", timeout=0.05) is not None  # released by the context manager
        with pytest.raises(OperationTimeoutError, match="no session"):
            await client.accept_session("s", timeout=0.05)


@pytest.mark.asyncio
async def test_validation_errors_are_queue_errors_that_name_the_rule() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        with pytest.raises(ValidationError, match="queue_name"):
            await client.create_queue("bad name!")
        await client.create_queue("q")
        with pytest.raises(MessageTooLargeError) as too_large:
            await client.send_message("q", Message(b"x" * (1024 * 1024 + 1)))
        assert too_large.value.max_size == 1024 * 1024
        with pytest.raises(ValidationError, match="max_messages"):
            await client.receive_messages("q", 0)
        with pytest.raises(ValidationError, match="timezone-aware"):
            await client.schedule_message("q", Message(b"x"), datetime(2030, 1, 1))
        with pytest.raises(ValidationError, match="reason"):
            await client.send_message("q", Message(b"x"))
            m = await client.receive_message("q", 0)
            assert m is not None
            await client.dead_letter_message(m, "")
        with pytest.raises(UnsupportedOperationError, match="no controllable clock"):
            _ = client.clock


@pytest.mark.asyncio
async def test_batches_are_split_to_the_provider_limit_and_provider_limits_hold() -> None:
    config = QueueConfig(provider=InMemoryConfig(max_batch_size=3))
    async with await QueueClientFactory.create_client(config) as client:
        await client.create_queue("q")
        ids = await client.send_messages("q", [Message(str(i).encode()) for i in range(7)])
        assert len(set(ids)) == 7
        got = await client.receive_messages("q", 100, timeout=0)
        assert [m.body for m in got] == [b"0", b"1", b"2"]  # one receive returns at most one batch
        with pytest.raises(BatchTooLargeError):
            await client.provider.send_messages(QueueName("q"), [Message(b"x")] * 4)


@pytest.mark.asyncio
async def test_closing_a_session_is_harmless_after_expiry_or_queue_deletion() -> None:
    async with await QueueClientFactory.create_client("memory://?clock=manual") as client:
        await client.create_queue("s", requires_session=True, lock_duration=timedelta(seconds=5))
        expired = await client.accept_session("s", "a")
        await client.clock.advance(timedelta(seconds=6))
        await expired.close()  # the lock already ran out: closing must not raise
        again = await client.accept_session("s", "a")  # and the session is free for the next holder
        await client.delete_queue("s")
        await again.close()  # its queue is gone: closing must not raise either
