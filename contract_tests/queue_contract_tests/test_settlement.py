"""Peek-lock: abandon, lock expiry, lock renewal and stale receipts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_queue_runtime import QueueClientFactory, QueueNameFactory

from queue_runtime import QueueClient
from queue_runtime.errors import MessageLockLostError

from ._helpers import SHORT, msg, receive_one
from .conftest import Timeline

pytestmark = pytest.mark.asyncio


async def test_abandon_redelivers_with_delivery_count_plus_one(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_message(queue_name, msg(b"retry me", message_id="abandon-1"))
    first = await receive_one(queue_client, queue_name)
    await queue_client.abandon_message(first)
    second = await receive_one(queue_client, queue_name)
    assert second.message_id == first.message_id and second.body == b"retry me"
    assert second.delivery_count == first.delivery_count + 1
    await queue_client.complete_message(second)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


async def test_a_locked_message_is_not_delivered_again(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    queue = await queue_name_factory(lock_duration=timeline.lock)
    await queue_client.send_message(queue, msg(b"held"))
    held = await receive_one(queue_client, queue)
    await timeline.elapse(timeline.part(0.4))
    assert await queue_client.receive_message(queue, timeout=SHORT) is None
    await queue_client.complete_message(held)


async def test_lock_expiry_redelivers(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    queue = await queue_name_factory(lock_duration=timeline.lock)
    await queue_client.send_message(queue, msg(b"slow consumer"))
    first = await receive_one(queue_client, queue)
    await timeline.elapse(timeline.lock + timedelta(seconds=1))
    second = await receive_one(queue_client, queue)
    assert second.message_id == first.message_id
    assert second.delivery_count == first.delivery_count + 1
    await queue_client.complete_message(second)


@pytest.mark.requires_capability("lock_renewal")
async def test_renew_extends_the_lock(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    queue = await queue_name_factory(lock_duration=timeline.lock)
    await queue_client.send_message(queue, msg(b"long job"))
    received = await receive_one(queue_client, queue)
    await timeline.elapse(timeline.part(0.6))
    renewed_until = await queue_client.renew_message_lock(received)
    assert received.locked_until is None or renewed_until > received.locked_until
    await timeline.elapse(timeline.part(0.6))  # past the first lock, within the renewed one
    assert await queue_client.receive_message(queue, timeout=SHORT) is None
    await queue_client.complete_message(received)
    await timeline.elapse(timeline.lock + timedelta(seconds=1))
    assert await queue_client.receive_message(queue, timeout=SHORT) is None


async def test_settling_twice_is_an_error(queue_client: QueueClient, queue_name: str) -> None:
    await queue_client.send_message(queue_name, msg(b"once"))
    received = await receive_one(queue_client, queue_name)
    await queue_client.complete_message(received)
    with pytest.raises(MessageLockLostError):
        await queue_client.complete_message(received)
    with pytest.raises(MessageLockLostError):
        await queue_client.abandon_message(received)


async def test_stale_receipt_is_an_error_and_the_message_is_not_lost(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    queue = await queue_name_factory(lock_duration=timeline.lock)
    await queue_client.send_message(queue, msg(b"precious", message_id="stale-1"))
    stale = await receive_one(queue_client, queue)
    await timeline.elapse(timeline.lock + timedelta(seconds=1))
    with pytest.raises(MessageLockLostError):
        await queue_client.complete_message(stale)
    again = await receive_one(queue_client, queue)
    assert again.message_id == "stale-1" and again.body == b"precious"
    await queue_client.complete_message(again)


async def test_stale_receipt_after_redelivery_cannot_settle_the_new_delivery(
    queue_client_factory: QueueClientFactory, queue_name_factory: QueueNameFactory, timeline: Timeline
) -> None:
    first_consumer = await queue_client_factory()
    second_consumer = await queue_client_factory()
    queue = await queue_name_factory(lock_duration=timeline.lock, client=first_consumer)
    await first_consumer.send_message(queue, msg(b"contended"))
    stale = await receive_one(first_consumer, queue)
    await timeline.elapse(timeline.lock + timedelta(seconds=1))
    fresh = await receive_one(second_consumer, queue)
    with pytest.raises(MessageLockLostError):
        await first_consumer.complete_message(stale)
    await second_consumer.complete_message(fresh)  # the new holder's lock is intact
    assert await first_consumer.receive_message(queue, timeout=SHORT) is None
