"""The same scenarios against the in-memory provider and the emulator provider: same results, same errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from emu_support import Target

from queue_runtime import Message, QueueName, QueueOptions, SessionId
from queue_runtime.errors import (
    BatchTooLargeError,
    MessageLockLostError,
    MessageNotFoundError,
    MessageTooLargeError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    SessionCannotBeLockedError,
    SessionLockLostError,
    SessionRequiredError,
    UnsupportedOperationError,
    ValidationError,
)

NOW = timedelta(0)
BINARY = bytes(range(256)) * 3


async def _queue(target: Target, name: QueueName, **options: object) -> QueueName:
    await target.provider.create_queue(name, QueueOptions.model_validate(options))
    return name


@pytest.mark.asyncio
async def test_round_trip_keeps_binary_body_and_properties(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    sent = Message(BINARY, attributes={"kind": "order", "n": "7"}, correlation_id="c-1", content_type="app/x",
                   message_id="m-1")
    ids = await p.send_messages(q, [sent])
    assert ids == ["m-1"]
    [got] = await p.receive_messages(q, 10, NOW)
    assert got.body == BINARY
    assert dict(got.attributes) == {"kind": "order", "n": "7"}
    assert (got.correlation_id, got.content_type, got.message_id) == ("c-1", "app/x", "m-1")
    assert got.delivery_count == 1 and got.sequence_number == 1 and got.locked_until is not None
    await p.complete(got.receipt_handle)
    assert await p.receive_messages(q, 10, NOW) == []
    props = await p.get_queue(q)
    assert props.total_count == 0


@pytest.mark.asyncio
async def test_settling_twice_and_unknown_queue_raise_the_same_errors(
    emu_target: Target, emu_queue_name: QueueName
) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    await p.send_messages(q, [Message(b"x")])
    [got] = await p.receive_messages(q, 1, NOW)
    await p.complete(got.receipt_handle)
    with pytest.raises(MessageLockLostError):
        await p.complete(got.receipt_handle)
    with pytest.raises(MessageLockLostError):
        await p.abandon(got.receipt_handle)
    missing = QueueName(q + "-missing")
    with pytest.raises(QueueNotFoundError) as caught:
        await p.send_messages(missing, [Message(b"x")])
    assert getattr(caught.value, "queue", None) == missing
    with pytest.raises(QueueNotFoundError):
        await p.receive_messages(missing, 1, NOW)
    with pytest.raises(QueueNotFoundError):
        await p.get_queue(missing)
    with pytest.raises(QueueNotFoundError):
        await p.delete_queue(missing)
    with pytest.raises(QueueAlreadyExistsError):
        await p.create_queue(q, QueueOptions())


@pytest.mark.asyncio
async def test_abandon_redelivers_and_max_delivery_dead_letters(
    emu_target: Target, emu_queue_name: QueueName
) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name, max_delivery_count=2)
    await p.send_messages(q, [Message(b"poison")])
    [first] = await p.receive_messages(q, 1, NOW)
    await p.abandon(first.receipt_handle)
    [second] = await p.receive_messages(q, 1, NOW)
    assert second.delivery_count == 2
    await p.abandon(second.receipt_handle)
    assert await p.receive_messages(q, 1, NOW) == []
    [dead] = await p.receive_messages(q, 1, NOW, dead_letter=True)
    assert dead.body == b"poison"
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    await p.complete(dead.receipt_handle)
    assert (await p.get_queue(q)).dead_letter_count == 0


@pytest.mark.asyncio
async def test_lock_expiry_on_the_clock_returns_the_message(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name, lock_duration=timedelta(seconds=10))
    await p.send_messages(q, [Message(b"x")])
    [got] = await p.receive_messages(q, 1, NOW)
    renewed = await p.renew_lock(got.receipt_handle)
    assert got.locked_until is not None and renewed >= got.locked_until
    await emu_target.clock.advance(timedelta(seconds=11))
    with pytest.raises(MessageLockLostError):
        await p.complete(got.receipt_handle)
    [again] = await p.receive_messages(q, 1, NOW)
    assert again.delivery_count == 2 and again.body == b"x"


@pytest.mark.asyncio
async def test_dead_letter_defer_and_receive_deferred(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    await p.send_messages(q, [Message(b"a"), Message(b"b")])
    a, b = await p.receive_messages(q, 2, NOW)
    await p.dead_letter(a.receipt_handle, "bad-order", "missing customer")
    seq = await p.defer(b.receipt_handle)
    assert seq == b.sequence_number
    [peeked] = await p.peek_messages(q, 10, dead_letter=True)
    assert (peeked.dead_letter_reason, peeked.dead_letter_description) == ("bad-order", "missing customer")
    [deferred] = await p.receive_deferred(q, [seq])
    assert deferred.body == b"b"
    await p.complete(deferred.receipt_handle)
    with pytest.raises(MessageNotFoundError):
        await p.receive_deferred(q, [seq])
    props = await p.get_queue(q)
    assert (props.dead_letter_count, props.deferred_count, props.active_count) == (1, 0, 0)


@pytest.mark.asyncio
async def test_peek_schedule_cancel_and_clock(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    now = await emu_target.clock.now()
    await p.send_messages(q, [Message(b"now")])
    [later] = await p.schedule_messages(q, [Message(b"later")], now + timedelta(minutes=5))
    [cancelled] = await p.schedule_messages(q, [Message(b"never")], now + timedelta(minutes=5))
    await p.cancel_scheduled(q, [cancelled])
    with pytest.raises(MessageNotFoundError):
        await p.cancel_scheduled(q, [cancelled])
    peeked = await p.peek_messages(q, 10)
    assert [m.body for m in peeked] == [b"now", b"later"]
    assert [m.state for m in peeked] == ["active", "scheduled"]
    assert [m.body for m in await p.peek_messages(q, 10, from_sequence=later)] == [b"later"]
    assert (await p.get_queue(q)).scheduled_count == 1
    [first] = await p.receive_messages(q, 10, NOW)
    await p.complete(first.receipt_handle)
    await emu_target.clock.advance(timedelta(minutes=5))
    [due] = await p.receive_messages(q, 10, NOW)
    assert due.body == b"later" and due.sequence_number == later


@pytest.mark.asyncio
async def test_ttl_dead_letters_on_expiration_and_duplicates_are_dropped(
    emu_target: Target, emu_queue_name: QueueName
) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name, default_message_ttl=timedelta(seconds=30),
                     dead_lettering_on_message_expiration=True, duplicate_detection_window=timedelta(minutes=1))
    await p.send_messages(q, [Message(b"one", message_id="same")])
    await p.send_messages(q, [Message(b"two", message_id="same")])
    assert (await p.get_queue(q)).active_count == 1
    await emu_target.clock.advance(timedelta(seconds=31))
    assert await p.receive_messages(q, 1, NOW) == []
    [dead] = await p.receive_messages(q, 1, NOW, dead_letter=True)
    assert dead.body == b"one" and dead.dead_letter_reason == "TTLExpiredException"


@pytest.mark.asyncio
async def test_limits_and_bad_arguments(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    limit = p.capabilities.max_message_size
    with pytest.raises(MessageTooLargeError):
        await p.send_messages(q, [Message(b"x" * (limit + 1))])
    with pytest.raises(BatchTooLargeError):
        await p.send_messages(q, [Message(b"x")] * (p.capabilities.max_batch_size + 1))
    with pytest.raises(ValidationError):
        await p.receive_messages(q, 0, NOW)
    with pytest.raises(SessionRequiredError):
        await p.accept_session(q, None, NOW)
    await p.send_messages(q, [Message(b"x")])
    [got] = await p.receive_messages(q, 1, NOW, dead_letter=False)
    await p.dead_letter(got.receipt_handle, "r", None)
    [dead] = await p.receive_messages(q, 1, NOW, dead_letter=True)
    with pytest.raises(UnsupportedOperationError):
        await p.dead_letter(dead.receipt_handle, "again", None)
    assert (await p.get_queue(q)).dead_letter_count == 1


@pytest.mark.asyncio
async def test_sessions(emu_target: Target, emu_queue_name: QueueName) -> None:
    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name, requires_session=True, lock_duration=timedelta(seconds=20))
    with pytest.raises(SessionRequiredError):
        await p.send_messages(q, [Message(b"no session")])
    with pytest.raises(SessionRequiredError):
        await p.receive_messages(q, 1, NOW)
    await p.send_messages(q, [Message(f"a{i}".encode(), session_id=SessionId("a")) for i in range(3)])
    await p.send_messages(q, [Message(b"b0", session_id=SessionId("b"))])
    session = await p.accept_session(q, None, NOW)
    assert session is not None and session.session_id == "a"
    with pytest.raises(SessionCannotBeLockedError):
        await p.accept_session(q, SessionId("a"), NOW)
    got = await session.receive_messages(10, NOW)
    assert [m.body for m in got] == [b"a0", b"a1", b"a2"]
    await session.complete(got[0].receipt_handle)
    await session.set_state(b"\x00state\xff")
    assert await session.get_state() == b"\x00state\xff"
    before = session.locked_until
    assert before is not None and await session.renew_session_lock() >= before
    other = await p.accept_session(q, None, NOW)
    assert other is not None and other.session_id == "b"
    await other.close()
    await session.close()
    await session.close()  # closing twice is harmless
    with pytest.raises(SessionLockLostError):
        await session.get_state()
    again = await p.accept_session(q, SessionId("a"), NOW)
    assert again is not None
    assert await again.get_state() == b"\x00state\xff"
    redelivered = await again.receive_messages(10, NOW)
    assert [m.body for m in redelivered] == [b"a1", b"a2"]
    await emu_target.clock.advance(timedelta(seconds=21))
    with pytest.raises(SessionLockLostError):
        await again.receive_messages(1, NOW)
    with pytest.raises(SessionLockLostError):
        await again.complete(redelivered[0].receipt_handle)
    empty = await p.accept_session(q, SessionId("new-empty"), NOW)
    assert empty is not None and await empty.receive_messages(1, NOW) == []
    assert (await p.get_queue(q)).session_count >= 1


@pytest.mark.asyncio
async def test_accept_next_session_waits_for_a_message(emu_target: Target, emu_queue_name: QueueName) -> None:
    import asyncio

    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name, requires_session=True)
    assert await p.accept_session(q, None, NOW) is None
    waiting = asyncio.create_task(p.accept_session(q, None, timedelta(seconds=20)))
    for _ in range(20):  # let the accept reach the waiter before the message arrives
        await asyncio.sleep(0.005)
    await p.send_messages(q, [Message(b"x", session_id=SessionId("s1"))])
    session = await asyncio.wait_for(waiting, 10)
    assert session is not None and session.session_id == "s1"
    await session.close()


@pytest.mark.asyncio
async def test_batched_complete_gives_each_caller_its_own_result(
    emu_target: Target, emu_queue_name: QueueName
) -> None:
    import asyncio

    p = emu_target.provider
    q = await _queue(emu_target, emu_queue_name)
    await p.send_messages(q, [Message(str(i).encode()) for i in range(20)])
    got = await p.receive_messages(q, 20, NOW)
    await p.complete(got[0].receipt_handle)
    results = await asyncio.gather(*(p.complete(m.receipt_handle) for m in got), return_exceptions=True)
    assert isinstance(results[0], MessageLockLostError)
    assert results[1:] == [None] * 19
    assert (await p.get_queue(q)).total_count == 0
