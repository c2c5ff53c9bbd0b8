"""Dead-letter management (``DeadLetterManager``, spec section N: D4, D5, D9, D10) on any provider with
dead-letter queues: list with failure metadata, resubmit one / a bounded selection / all to the source queue
and session (send first, then complete the dead-letter copy), purge, and a summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_queue_runtime import QueueNameFactory

from queue_runtime import DeadLetterManager, MessageId, QueueClient
from queue_runtime.errors import MessageNotFoundError
from queue_runtime.ports import FaultControl

from ._helpers import SHORT, msg, receive_all, receive_one

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("dead_letter")]


async def dead_letter(client: QueueClient, queue: str, bodies: list[str], reason: str, **fields: object) -> None:
    """Send ``bodies`` and dead-letter each with ``reason`` (description ``[ValueError] <body>``)."""
    await client.send_messages(queue, [msg(b, message_id=f"id-{b}", **fields) for b in bodies])  # type: ignore[arg-type]
    for received in await receive_all(client, queue, len(bodies)):
        await client.dead_letter_message(received, reason, f"[ValueError] {received.body.decode()}")


def manager(client: QueueClient) -> DeadLetterManager:
    return DeadLetterManager(client, receive_timeout=timedelta(seconds=1))


async def test_list_shows_dead_letters_with_failure_metadata_D4(queue_client: QueueClient, queue_name: str) -> None:
    await dead_letter(queue_client, queue_name, ["a", "b"], "invalid-payload", attributes={"tenant": "acme"})
    entries = await manager(queue_client).list(queue_name)
    assert sorted(e.message_id for e in entries) == ["id-a", "id-b"]
    for entry in entries:
        assert entry.reason == "invalid-payload"
        assert entry.error_type == "ValueError"
        assert entry.description == f"[ValueError] {entry.message.body.decode()}"
        assert entry.delivery_count >= 1 and entry.enqueued_time.tzinfo is not None
        assert dict(entry.message.attributes) == {"tenant": "acme"}
    # listing takes nothing away
    assert len(await manager(queue_client).list(queue_name)) == 2
    found = await manager(queue_client).peek(queue_name, "id-b")
    assert found is not None and found.message.body == b"b"
    assert await manager(queue_client).peek(queue_name, "id-zzz") is None


async def test_resubmit_all_sends_back_then_removes_the_dead_letter_copies_D5(
    queue_client: QueueClient, queue_name: str
) -> None:
    await dead_letter(queue_client, queue_name, ["a", "b", "c"], "rejected", attributes={"k": "v"})
    result = await manager(queue_client).resubmit_all(queue_name)
    assert result.success_count == 3 and result.failure_count == 0
    assert sorted(result.resubmitted) == ["id-a", "id-b", "id-c"]
    back = await receive_all(queue_client, queue_name, 3)
    assert sorted(m.body for m in back) == [b"a", b"b", b"c"]
    for message in back:
        original = message.attributes["queue_runtime.original_message_id"]
        assert original == f"id-{message.body.decode()}"
        assert message.attributes["k"] == "v"
        # a new id, so that duplicate detection cannot drop the resubmission
        assert result.resubmitted[MessageId(original)] == message.message_id
        assert message.delivery_count == 1
        await queue_client.complete_message(message)
    assert await queue_client.receive_dead_letter_messages(queue_name, 5, timeout=SHORT) == []


async def test_resubmit_where_takes_a_bounded_selection_and_leaves_the_rest_D9(
    queue_client: QueueClient, queue_name: str
) -> None:
    await dead_letter(queue_client, queue_name, ["t1", "t2", "t3"], "timeout")
    await dead_letter(queue_client, queue_name, ["p1"], "poison")
    dlq = manager(queue_client)
    result = await dlq.resubmit_where(queue_name, lambda e: e.reason == "timeout", limit=2)
    assert result.success_count == 2 and result.failure_count == 0
    assert all(key.startswith("id-t") for key in result.resubmitted)
    remaining = await dlq.list(queue_name)
    assert sorted(e.reason or "" for e in remaining) == ["poison", "timeout"]
    assert len(await receive_all(queue_client, queue_name, 2)) == 2


async def test_resubmit_one_by_id_and_a_missing_id_is_a_typed_error(
    queue_client: QueueClient, queue_name: str
) -> None:
    await dead_letter(queue_client, queue_name, ["x", "y"], "rejected")
    dlq = manager(queue_client)
    result = await dlq.resubmit(queue_name, "id-y")
    assert list(result.resubmitted) == ["id-y"]
    assert (await receive_one(queue_client, queue_name)).body == b"y"
    with pytest.raises(MessageNotFoundError):
        await dlq.resubmit(queue_name, "id-y")
    assert [e.message_id for e in await dlq.list(queue_name)] == ["id-x"]


async def test_purge_deletes_dead_letters_for_good(queue_client: QueueClient, queue_name: str) -> None:
    await dead_letter(queue_client, queue_name, ["a", "b"], "old")
    await dead_letter(queue_client, queue_name, ["c"], "keep")
    dlq = manager(queue_client)
    assert await dlq.purge(queue_name, where=lambda e: e.reason == "old") == 2
    assert [e.message_id for e in await dlq.list(queue_name)] == ["id-c"]
    assert await dlq.purge(queue_name) == 1
    assert await dlq.list(queue_name) == []
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


async def test_summary_counts_by_reason_error_type_and_hour_D10(queue_client: QueueClient, queue_name: str) -> None:
    await dead_letter(queue_client, queue_name, ["a", "b", "c"], "invalid")
    await dead_letter(queue_client, queue_name, ["d"], "timeout")
    await queue_client.send_message(queue_name, msg(b"plain"))
    await queue_client.dead_letter_message(await receive_one(queue_client, queue_name), "manual")
    summary = await manager(queue_client).summary(queue_name)
    assert summary.total == 5
    assert summary.by_reason == {"invalid": 3, "timeout": 1, "manual": 1}
    assert next(iter(summary.by_reason)) == "invalid"  # most frequent first
    assert summary.by_error_type == {"ValueError": 4, "unknown": 1}
    assert sum(summary.by_hour.values()) == 5
    assert all(hour.minute == 0 and hour.second == 0 for hour in summary.by_hour)


@pytest.mark.requires_capability("sessions")
async def test_resubmit_returns_messages_to_their_session_in_order_D5(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(requires_session=True)
    await queue_client.send_messages(queue, [msg(f"s-{i}", session_id="order-7") for i in range(3)])
    async with await queue_client.accept_session(queue, "order-7" if queue_client.capabilities.session_accept_specific
                                                 else None, timeout=5) as session:
        for _ in range(3):
            received = await session.receive_message(timeout=2)
            assert received is not None
            await session.dead_letter_message(received, "rejected")
    result = await manager(queue_client).resubmit_all(queue)
    assert result.success_count == 3
    async with await queue_client.accept_session(queue, timeout=5) as session:
        assert session.session_id == "order-7"
        bodies: list[bytes] = []
        while len(bodies) < 3:
            batch = await session.receive_messages(3, timeout=2)
            assert batch, bodies
            for message in batch:
                bodies.append(message.body)
                await session.complete_message(message)
    assert bodies == [b"s-0", b"s-1", b"s-2"]


@pytest.mark.requires_capability("fault_injection")
async def test_a_failed_resubmit_send_loses_nothing(
    queue_client: QueueClient, queue_name: str, queue_faults: FaultControl
) -> None:
    """Send first: when the send fails, the dead letter stays where it was and the result counts the failure."""
    await dead_letter(queue_client, queue_name, ["a", "b"], "rejected")
    await queue_faults.inject("send", error="quota_exceeded", count=1, queue=queue_name)
    result = await manager(queue_client).resubmit_all(queue_name)
    assert result.success_count == 1 and result.failure_count == 1
    failure = result.failures[0]
    assert failure.stage == "send" and failure.error.code == "quota_exceeded"
    left = await manager(queue_client).list(queue_name)
    assert [e.message_id for e in left] == [failure.message_id]
    assert len(await receive_all(queue_client, queue_name, 1)) == 1
