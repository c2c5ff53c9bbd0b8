"""Batches within and beyond the provider's ``max_batch_size``, and competing consumers."""

from __future__ import annotations

import asyncio

import pytest
from pytest_queue_runtime import QueueClientFactory, QueueMessageFactory

from queue_runtime import QueueClient, ReceivedMessage

from ._helpers import SHORT, WAIT, msg, receive_all

pytestmark = pytest.mark.asyncio


async def test_batch_within_the_limit(
    queue_client: QueueClient, queue_name: str, queue_message_factory: QueueMessageFactory
) -> None:
    count = min(queue_client.capabilities.max_batch_size, 10)
    messages = queue_message_factory.batch(count)
    ids = await queue_client.send_messages(queue_name, messages)
    assert len(ids) == count
    received = await receive_all(queue_client, queue_name, count)
    assert len(received) <= count * 2 and len(received) == count
    assert sorted(m.message_id for m in received) == sorted(ids)
    assert {m.body for m in received} == {m.body for m in messages}
    for message in received:
        await queue_client.complete_message(message)


async def test_batch_beyond_the_limit_is_split_and_nothing_is_lost(
    queue_client: QueueClient, queue_name: str
) -> None:
    limit = queue_client.capabilities.max_batch_size
    count = limit + 1
    ids = await queue_client.send_messages(queue_name, [msg(f"bulk-{i}") for i in range(count)])
    assert len(set(ids)) == count
    first = await queue_client.receive_messages(queue_name, count, timeout=WAIT)
    assert 1 <= len(first) <= limit, "a receive returns at most max_batch_size messages"
    rest = await receive_all(queue_client, queue_name, count - len(first))
    received = first + rest
    assert sorted(m.message_id for m in received) == sorted(ids)
    for message in received:
        await queue_client.complete_message(message)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


async def test_a_locked_message_goes_to_one_consumer_only(
    queue_client_factory: QueueClientFactory, queue_name: str, queue_client: QueueClient
) -> None:
    other = await queue_client_factory()
    await queue_client.send_message(queue_name, msg(b"only once"))
    taken = await queue_client.receive_message(queue_name, timeout=WAIT)
    assert taken is not None
    assert await other.receive_message(queue_name, timeout=SHORT) is None
    await queue_client.complete_message(taken)


async def test_competing_consumers_never_share_a_locked_message(
    queue_client_factory: QueueClientFactory, queue_name: str, queue_client: QueueClient
) -> None:
    consumers = [queue_client, await queue_client_factory()]
    total = 20
    ids = await queue_client.send_messages(queue_name, [msg(f"job-{i}") for i in range(total)])

    async def drain(client: QueueClient) -> list[ReceivedMessage]:
        taken: list[ReceivedMessage] = []
        while True:
            batch = await client.receive_messages(queue_name, 3, timeout=SHORT)
            if not batch:
                return taken
            taken.extend(batch)
            await asyncio.sleep(0)

    first, second = await asyncio.gather(*(drain(c) for c in consumers))
    first_ids = [m.message_id for m in first]
    second_ids = [m.message_id for m in second]
    assert not set(first_ids) & set(second_ids), "two consumers held the same message at once"
    assert len(first_ids) == len(set(first_ids)) and len(second_ids) == len(set(second_ids))
    assert sorted(first_ids + second_ids) == sorted(ids)
    for client, taken in zip(consumers, (first, second), strict=True):
        for message in taken:
            await client.complete_message(message)
