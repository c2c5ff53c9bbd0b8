"""Scheduled messages, time to live, deferral, peek and duplicate detection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_queue_runtime import QueueNameFactory

from queue_runtime import QueueClient

from ._helpers import SHORT, msg, receive_one
from .conftest import Timeline

pytestmark = pytest.mark.asyncio


@pytest.mark.requires_capability("scheduling")
async def test_scheduled_message_appears_at_its_time(
    queue_client: QueueClient, queue_name: str, timeline: Timeline
) -> None:
    delay = timeline.part(1.0)
    at = await timeline.now() + delay
    sequence = await queue_client.schedule_message(queue_name, msg(b"later"), at)
    assert isinstance(sequence, int)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
    await timeline.elapse(delay + timedelta(seconds=1))
    received = await receive_one(queue_client, queue_name)
    assert received.body == b"later"
    await queue_client.complete_message(received)


@pytest.mark.requires_capability("scheduling")
@pytest.mark.requires_capability("cancel_scheduled")
async def test_cancelled_scheduled_message_never_appears(
    queue_client: QueueClient, queue_name: str, timeline: Timeline
) -> None:
    delay = timeline.part(1.0)
    sequence = await queue_client.schedule_message(
        queue_name, msg(b"never"), await timeline.now() + delay
    )
    await queue_client.cancel_scheduled_message(queue_name, sequence)
    await timeline.elapse(delay + timedelta(seconds=1))
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


@pytest.mark.requires_capability("ttl")
async def test_expired_message_is_never_delivered(
    queue_client: QueueClient, queue_name: str, timeline: Timeline
) -> None:
    ttl = timeline.part(0.5)
    await queue_client.send_message(queue_name, msg(b"stale soon", time_to_live=ttl))
    await queue_client.send_message(queue_name, msg(b"fresh"))
    await timeline.elapse(ttl + timedelta(seconds=1))
    received = await receive_one(queue_client, queue_name)
    assert received.body == b"fresh"
    await queue_client.complete_message(received)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


@pytest.mark.requires_capability("ttl", "dead_letter")
async def test_expired_message_is_dead_lettered_when_the_queue_says_so(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    queue = await queue_name_factory(dead_lettering_on_message_expiration=True)
    ttl = timeline.part(0.5)
    await queue_client.send_message(queue, msg(b"expired", time_to_live=ttl))
    await timeline.elapse(ttl + timedelta(seconds=1))
    assert await queue_client.receive_message(queue, timeout=SHORT) is None
    dead = await receive_one(queue_client, queue, dead_letter=True)
    assert dead.body == b"expired" and dead.dead_letter_reason
    await queue_client.complete_message(dead)


@pytest.mark.requires_capability("deferral")
async def test_deferred_message_comes_back_only_by_sequence_number(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_message(queue_name, msg(b"set aside"))
    received = await receive_one(queue_client, queue_name)
    sequence = await queue_client.defer_message(received)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
    [deferred] = await queue_client.receive_deferred_messages(queue_name, [sequence])
    assert deferred.body == b"set aside" and deferred.message_id == received.message_id
    await queue_client.complete_message(deferred)


@pytest.mark.requires_capability("peek")
async def test_peek_does_not_lock_or_count_a_delivery(queue_client: QueueClient, queue_name: str) -> None:
    await queue_client.send_messages(queue_name, [msg(b"p0"), msg(b"p1")])
    peeked = await queue_client.peek_messages(queue_name, 2)
    assert [m.body for m in peeked] == [b"p0", b"p1"]
    assert peeked[0].sequence_number < peeked[1].sequence_number
    received = await receive_one(queue_client, queue_name)
    assert received.body == b"p0" and received.delivery_count == 1
    await queue_client.complete_message(received)


@pytest.mark.requires_capability("peek")
async def test_peek_without_a_sequence_starts_at_the_first_message_every_time(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_messages(queue_name, [msg(b"p0"), msg(b"p1")])
    first = await queue_client.peek_messages(queue_name, 1)
    again = await queue_client.peek_messages(queue_name, 2)
    assert [m.body for m in first] == [b"p0"]
    assert [m.body for m in again] == [b"p0", b"p1"]
    later = await queue_client.peek_messages(queue_name, 2, again[1].sequence_number)
    assert [m.body for m in later] == [b"p1"]


@pytest.mark.requires_capability("duplicate_detection")
async def test_duplicate_message_id_is_dropped_within_the_window(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(duplicate_detection_window=timedelta(minutes=5))
    for _ in range(2):
        await queue_client.send_message(queue, msg(b"once", message_id="dup-1"))
    received = await receive_one(queue_client, queue)
    await queue_client.complete_message(received)
    assert await queue_client.receive_message(queue, timeout=SHORT) is None
