"""Sessions: order within a session, exclusive locks across clients, lock expiry and renewal, state, close."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_queue_runtime import QueueClientFactory, QueueMessageFactory, QueueNameFactory

from queue_runtime import QueueClient, ReceivedMessage, SessionClient
from queue_runtime.errors import SessionCannotBeLockedError, SessionLockLostError

from ._helpers import SHORT, WAIT, msg
from .conftest import Timeline

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("sessions")]


async def _drain(session: SessionClient, count: int) -> list[ReceivedMessage]:
    found: list[ReceivedMessage] = []
    while len(found) < count:
        batch = await session.receive_messages(count - len(found), timeout=WAIT)
        if not batch:
            break
        for message in batch:
            await session.complete_message(message)
        found.extend(batch)
    return found


def _seqs(messages: list[ReceivedMessage]) -> list[int]:
    return [int(m.attributes["seq"]) for m in messages]


async def test_fifo_within_a_session(
    queue_client: QueueClient, session_queue_name: str, queue_message_factory: QueueMessageFactory
) -> None:
    await queue_client.send_messages(session_queue_name, queue_message_factory.batch(6, session_id="order-1"))
    async with await queue_client.accept_session(session_queue_name, timeout=WAIT) as session:
        assert session.session_id == "order-1"
        assert _seqs(await _drain(session, 6)) == [0, 1, 2, 3, 4, 5]


async def test_two_sessions_interleave_and_each_stays_in_order(
    queue_client_factory: QueueClientFactory, queue_client: QueueClient, session_queue_name: str
) -> None:
    other = await queue_client_factory()
    for i in range(4):
        for sid in ("cart-a", "cart-b"):
            await queue_client.send_message(
                session_queue_name, msg(f"{sid}:{i}", session_id=sid, attributes={"seq": str(i)})
            )
    first = await queue_client.accept_session(session_queue_name, timeout=WAIT)
    second = await other.accept_session(session_queue_name, timeout=WAIT)
    assert {first.session_id, second.session_id} == {"cart-a", "cart-b"}
    for session in (first, second):
        messages = await _drain(session, 4)
        assert _seqs(messages) == [0, 1, 2, 3]
        assert all(m.session_id == session.session_id for m in messages)
        await session.close()


async def test_a_session_is_locked_by_one_client_only(
    queue_client_factory: QueueClientFactory, queue_client: QueueClient, session_queue_name: str
) -> None:
    other = await queue_client_factory()
    await queue_client.send_messages(
        session_queue_name, [msg(f"m{i}", session_id="exclusive") for i in range(3)]
    )
    holder = await queue_client.accept_session(session_queue_name, timeout=WAIT)
    assert holder.session_id == "exclusive"
    assert await other.try_accept_session(session_queue_name, timeout=SHORT) is None
    if other.capabilities.session_accept_specific:
        try:
            stolen = await other.try_accept_session(session_queue_name, "exclusive", timeout=SHORT)
        except SessionCannotBeLockedError:
            stolen = None
        assert stolen is None, "a second client locked a session another client holds"
    messages = await _drain(holder, 3)
    assert len(messages) == 3
    await holder.close()


async def test_next_available_session_skips_empty_and_locked_ones(
    queue_client_factory: QueueClientFactory, queue_client: QueueClient, session_queue_name: str
) -> None:
    assert await queue_client.try_accept_session(session_queue_name, timeout=SHORT) is None
    await queue_client.send_message(session_queue_name, msg(b"a", session_id="first"))
    await queue_client.send_message(session_queue_name, msg(b"b", session_id="second"))
    one = await queue_client.accept_session(session_queue_name, timeout=WAIT)
    two = await (await queue_client_factory()).accept_session(session_queue_name, timeout=WAIT)
    assert {one.session_id, two.session_id} == {"first", "second"}
    assert await queue_client.try_accept_session(session_queue_name, timeout=SHORT) is None
    for session in (one, two):
        assert len(await _drain(session, 1)) == 1
        await session.close()


async def test_session_lock_expiry_frees_the_session(
    queue_client_factory: QueueClientFactory,
    queue_client: QueueClient,
    queue_name_factory: QueueNameFactory,
    timeline: Timeline,
) -> None:
    queue = await queue_name_factory(requires_session=True, lock_duration=timeline.lock)
    other = await queue_client_factory()
    await queue_client.send_messages(queue, [msg(f"m{i}", session_id="lapsed") for i in range(2)])
    first = await queue_client.accept_session(queue, timeout=WAIT)
    received = await first.receive_message(timeout=WAIT)
    assert received is not None
    await timeline.elapse(timeline.lock + timedelta(seconds=1))
    second = await other.accept_session(queue, timeout=WAIT)
    assert second.session_id == "lapsed"
    with pytest.raises((SessionLockLostError, SessionCannotBeLockedError)):
        await first.receive_messages(1, timeout=SHORT)
    messages = await _drain(second, 2)
    assert sorted(m.body for m in messages) == [b"m0", b"m1"]
    await second.close()


@pytest.mark.requires_capability("lock_renewal")
async def test_session_lock_renewal_keeps_the_session(
    queue_client_factory: QueueClientFactory,
    queue_client: QueueClient,
    queue_name_factory: QueueNameFactory,
    timeline: Timeline,
) -> None:
    queue = await queue_name_factory(requires_session=True, lock_duration=timeline.lock)
    other = await queue_client_factory()
    await queue_client.send_message(queue, msg(b"kept", session_id="renewed"))
    session = await queue_client.accept_session(queue, timeout=WAIT)
    first_until = session.session_expires_at
    await timeline.elapse(timeline.part(0.6))
    until = await session.renew_session_lock()
    assert first_until is None or until > first_until
    await timeline.elapse(timeline.part(0.6))
    assert await other.try_accept_session(queue, timeout=SHORT) is None
    assert [m.body for m in await _drain(session, 1)] == [b"kept"]
    await session.close()


@pytest.mark.requires_capability("session_state")
async def test_session_state_is_kept_across_locks(queue_client: QueueClient, session_queue_name: str) -> None:
    await queue_client.send_message(session_queue_name, msg(b"step", session_id="saga-9"))
    async with await queue_client.accept_session(session_queue_name, timeout=WAIT) as session:
        assert await session.get_session_state() is None
        await session.set_session_state(b'{"step":2}')
        assert await session.get_session_state() == b'{"step":2}'
    async with await queue_client.accept_session(session_queue_name, timeout=WAIT) as again:
        assert again.session_id == "saga-9"
        assert await again.get_session_state() == b'{"step":2}'
        await again.set_session_state(None)
        assert await again.get_session_state() is None
        await _drain(again, 1)


async def test_closing_a_session_releases_it_with_unsettled_messages(
    queue_client_factory: QueueClientFactory, queue_client: QueueClient, session_queue_name: str
) -> None:
    other = await queue_client_factory()
    await queue_client.send_message(session_queue_name, msg(b"unsettled", session_id="released"))
    session = await queue_client.accept_session(session_queue_name, timeout=WAIT)
    held = await session.receive_message(timeout=WAIT)
    assert held is not None
    await session.close()
    again = await other.accept_session(session_queue_name, timeout=WAIT)
    assert again.session_id == "released"
    redelivered = await again.receive_message(timeout=WAIT)
    assert redelivered is not None and redelivered.message_id == held.message_id
    await again.complete_message(redelivered)
    await again.close()
