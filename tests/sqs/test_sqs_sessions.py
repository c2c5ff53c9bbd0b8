"""Sessions emulated on FIFO message groups (moto server)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqs_support import MakeProvider, make_queue

from queue_runtime import Message, QueueClient, QueueName, SessionId
from queue_runtime.errors import (
    SessionLockLostError,
    SessionRequiredError,
    UnsupportedOperationError,
    ValidationError,
)
from queue_runtime.ports import SessionSupport
from queue_runtime.providers.sqs import SqsProvider, SqsSession

ZERO = timedelta(0)
SHORT = timedelta(seconds=1)


def msgs(session: str, *bodies: str) -> list[Message]:
    return [Message(b.encode(), session_id=SessionId(session)) for b in bodies]


async def accept(provider: SqsProvider, queue: QueueName, timeout: timedelta = SHORT) -> SqsSession:
    session = await provider.accept_session(queue, None, timeout)
    assert isinstance(session, SqsSession)
    return session


async def bodies(session: SqsSession, count: int = 10) -> list[bytes]:
    return [m.body for m in await session.receive_messages(count, SHORT)]


@pytest.mark.asyncio
async def test_capabilities_declare_emulated_sessions(fifo: SqsProvider, standard: SqsProvider) -> None:
    caps = fifo.capabilities
    assert caps.sessions is SessionSupport.EMULATED
    assert not caps.session_state and not caps.session_accept_specific
    assert any("no session state" in note for note in caps.notes)
    assert standard.capabilities.sessions is SessionSupport.NONE


@pytest.mark.asyncio
async def test_accept_next_takes_the_first_group_and_buffers_it(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    await fifo.send_messages(queue, msgs("A", "a1", "a2", "a3") + msgs("B", "b1"))
    session = await accept(fifo, queue)
    assert session.session_id == "A"
    assert await bodies(session, 2) == [b"a1", b"a2"]
    assert await bodies(session, 2) == [b"a3"]  # from the buffer, in order
    other = await accept(fifo, queue)
    [b1] = await other.receive_messages(10, SHORT)
    assert other.session_id == "B" and b1.body == b"b1"
    # moto returns several groups in one receive (as SQS may): b1 came with A's first receive and was released
    # at once; that receive still counted, so its delivery count is 2 without it ever being processed.
    assert b1.delivery_count == 2
    await session.close()
    await other.close()


@pytest.mark.asyncio
async def test_a_held_group_is_not_given_to_another_receiver(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    await fifo.send_messages(queue, msgs("A", "a1", "a2") + msgs("B", "b1"))
    first = await accept(fifo, queue)
    [a1] = await first.receive_messages(1, SHORT)
    second = await accept(fifo, queue)
    assert (first.session_id, second.session_id) == ("A", "B")  # SQS FIFO group locking (moto has it too)
    assert await fifo.accept_session(queue, None, ZERO) is None  # nothing else is available
    await first.complete(a1.receipt_handle)
    assert await bodies(first) == [b"a2"]
    await first.close()
    await second.close()


@pytest.mark.asyncio
async def test_session_receive_gets_more_of_the_group_after_settling(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    await fifo.send_messages(queue, msgs("A", "a1"))
    session = await accept(fifo, queue)
    [a1] = await session.receive_messages(1, SHORT)
    await fifo.send_messages(queue, msgs("A", "a2"))
    # a1 is in flight, so SQS returns nothing more of A: the session waits for a settle instead of polling.
    started = time.monotonic()
    assert await session.receive_messages(1, timedelta(milliseconds=200)) == []
    assert time.monotonic() - started < 1
    waiter = asyncio.create_task(session.receive_messages(1, timedelta(seconds=3)))
    await asyncio.sleep(0.1)
    await session.complete(a1.receipt_handle)
    assert [m.body for m in await waiter] == [b"a2"]
    await session.close()


@pytest.mark.asyncio
async def test_locked_until_and_renew_cover_all_in_flight_messages(make_provider: MakeProvider) -> None:
    provider = make_provider(fifo=True)
    queue = await make_queue(provider, requires_session=True, lock_duration=1)
    await provider.send_messages(queue, msgs("A", "a1", "a2"))
    session = await accept(provider, queue)
    first_until = session.locked_until
    assert first_until is not None and first_until <= datetime.now(UTC) + timedelta(seconds=1)
    [a1] = await session.receive_messages(1, SHORT)
    await asyncio.sleep(0.6)
    renewed = await session.renew_session_lock()
    assert renewed > first_until and session.locked_until == renewed
    await asyncio.sleep(0.6)  # past the first deadline, inside the renewed one: both messages still held
    await session.complete(a1.receipt_handle)
    assert await bodies(session) == [b"a2"]
    await session.close()
    assert session.locked_until is None


@pytest.mark.asyncio
async def test_the_session_lock_is_lost_when_visibility_runs_out(make_provider: MakeProvider) -> None:
    provider = make_provider(fifo=True)
    queue = await make_queue(provider, requires_session=True, lock_duration=1)
    await provider.send_messages(queue, msgs("A", "a1", "a2"))
    session = await accept(provider, queue)
    [a1] = await session.receive_messages(1, SHORT)
    await asyncio.sleep(1.1)
    with pytest.raises(SessionLockLostError):
        await session.complete(a1.receipt_handle)
    with pytest.raises(SessionLockLostError):
        await session.receive_messages(1, ZERO)
    with pytest.raises(SessionLockLostError):
        await session.renew_session_lock()


@pytest.mark.asyncio
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,  # only the stated departure: any other error fails the test
    reason="moto 5.2.5 departs from SQS: when several in-flight messages of one group time out together, "
    "moto redelivers the LATER one first (receive_message skips a1 while a2 still counts as pending); SQS "
    "keeps the group order (docs/sqs.md, 'Where moto differs')",
)
async def test_a_timed_out_group_is_redelivered_in_order(make_provider: MakeProvider) -> None:
    provider = make_provider(fifo=True)
    queue = await make_queue(provider, requires_session=True, lock_duration=1)
    await provider.send_messages(queue, msgs("A", "a1", "a2"))
    session = await accept(provider, queue)
    assert await bodies(session) == [b"a1", b"a2"]
    await asyncio.sleep(1.1)
    again = await accept(provider, queue)
    assert await bodies(again) == [b"a1", b"a2"]


@pytest.mark.asyncio
async def test_close_releases_what_the_session_holds(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True, lock_duration=300)
    await fifo.send_messages(queue, msgs("A", "a1", "a2", "a3"))
    session = await accept(fifo, queue)
    [a1] = await session.receive_messages(1, SHORT)
    await session.close()
    await session.close()  # twice is harmless
    with pytest.raises(SessionLockLostError):
        await session.complete(a1.receipt_handle)
    again = await accept(fifo, queue)  # released with visibility 0: no waiting for the 300 s lock
    assert await bodies(again) == [b"a1", b"a2", b"a3"]
    await again.close()


@pytest.mark.asyncio
async def test_abandon_in_a_session_keeps_the_order(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True, lock_duration=300)
    await fifo.send_messages(queue, msgs("A", "a1", "a2"))
    session = await accept(fifo, queue)
    [a1] = await session.receive_messages(1, SHORT)
    await session.abandon(a1.receipt_handle)
    redelivered = await session.receive_messages(10, SHORT)
    assert [(m.body, m.delivery_count) for m in redelivered] == [(b"a1", 2), (b"a2", 2)]
    await session.close()


@pytest.mark.asyncio
async def test_dead_letter_and_settle_within_a_session(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    await fifo.send_messages(queue, msgs("A", "a1", "a2"))
    session = await accept(fifo, queue)
    a1, a2 = await session.receive_messages(2, SHORT)
    await session.dead_letter(a1.receipt_handle, "Bad", "details")
    await session.complete(a2.receipt_handle)
    dead = await fifo.receive_messages(queue, 1, SHORT, dead_letter=True)
    assert [(m.body, m.session_id, m.dead_letter_reason) for m in dead] == [(b"a1", "A", "Bad")]
    other = await fifo.accept_session(queue, None, ZERO)
    assert other is None
    await session.close()


@pytest.mark.asyncio
async def test_a_receipt_from_another_session_is_refused(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    await fifo.send_messages(queue, msgs("A", "a1") + msgs("B", "b1"))
    first, second = await accept(fifo, queue), await accept(fifo, queue)
    [message] = await first.receive_messages(1, SHORT)
    with pytest.raises(ValidationError):
        await second.complete(message.receipt_handle)
    await first.close()
    await second.close()


@pytest.mark.asyncio
async def test_what_sqs_cannot_do_is_refused_clearly(fifo: SqsProvider, standard: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    with pytest.raises(UnsupportedOperationError) as caught:
        await fifo.accept_session(queue, SessionId("A"), ZERO)
    assert "session_id=None" in caught.value.message and "message group" in caught.value.message
    plain = await make_queue(fifo)
    with pytest.raises(SessionRequiredError):
        await fifo.accept_session(plain, None, ZERO)
    with pytest.raises(UnsupportedOperationError) as caught:
        await standard.accept_session(QueueName("anything"), None, ZERO)
    assert "use_fifo_queues" in caught.value.message
    session = await fifo.accept_session(queue, None, ZERO)
    assert session is None  # empty queue, no wait
    await fifo.send_messages(queue, msgs("A", "a1"))
    held = await accept(fifo, queue)
    with pytest.raises(UnsupportedOperationError):
        await held.get_state()
    await held.close()


@pytest.mark.asyncio
async def test_through_the_queue_client(fifo: SqsProvider) -> None:
    queue = await make_queue(fifo, requires_session=True)
    client = QueueClient(fifo)
    await client.send_messages(str(queue), msgs("A", *(f"a{i}" for i in range(25))))  # chunked by 10
    with pytest.raises(UnsupportedOperationError):
        await client.accept_session(str(queue), "A", 0)
    async with await client.accept_session(str(queue), timeout=1) as session:
        seen: list[bytes] = []
        while len(seen) < 25:
            batch = await session.receive_messages(10, 1)
            assert batch
            for message in batch:
                await session.complete_message(message)
            seen += [m.body for m in batch]
    assert seen == [f"a{i}".encode() for i in range(25)]
    await client.aclose()
