"""Dead-letter queues: automatic after too many deliveries, manual with a reason, and readable."""

from __future__ import annotations

import pytest
from pytest_queue_runtime import QueueNameFactory

from queue_runtime import QueueClient

from ._helpers import SHORT, msg, receive_one

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("dead_letter")]


async def test_max_delivery_count_moves_the_message_to_the_dead_letter_queue(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(max_delivery_count=2)
    await queue_client.send_message(queue, msg(b"poison", message_id="poison-1"))
    for attempt in (1, 2):
        received = await receive_one(queue_client, queue)
        assert received.delivery_count == attempt
        await queue_client.abandon_message(received)
    assert await queue_client.receive_message(queue, timeout=SHORT) is None
    dead = await receive_one(queue_client, queue, dead_letter=True)
    assert dead.message_id == "poison-1" and dead.body == b"poison"
    assert dead.dead_letter_reason is not None
    assert "delivery" in dead.dead_letter_reason.lower(), dead.dead_letter_reason
    await queue_client.complete_message(dead)


async def test_manual_dead_letter_keeps_reason_and_description(
    queue_client: QueueClient, queue_name: str
) -> None:
    message = msg(b'{"amount":-1}', attributes={"tenant": "acme"}, message_id="bad-1")
    await queue_client.send_message(queue_name, message)
    received = await receive_one(queue_client, queue_name)
    await queue_client.dead_letter_message(received, "invalid-payload", "amount must be positive")
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
    dead = await receive_one(queue_client, queue_name, dead_letter=True)
    assert dead.dead_letter_reason == "invalid-payload"
    assert dead.dead_letter_description == "amount must be positive"
    assert dead.message_id == "bad-1" and dead.body == b'{"amount":-1}'
    assert dict(dead.attributes) == {"tenant": "acme"}


async def test_dead_letter_queue_is_readable_and_completing_removes_for_good(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_messages(queue_name, [msg(f"dl-{i}") for i in range(2)])
    for _ in range(2):
        received = await receive_one(queue_client, queue_name)
        await queue_client.dead_letter_message(received, "rejected")
    bodies = set()
    for _ in range(2):
        dead = await receive_one(queue_client, queue_name, dead_letter=True)
        bodies.add(dead.body)
        await queue_client.complete_message(dead)
    assert bodies == {b"dl-0", b"dl-1"}
    assert await queue_client.receive_dead_letter_messages(queue_name, 5, timeout=SHORT) == []
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


async def test_abandoned_dead_letter_message_stays_in_the_dead_letter_queue(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_message(queue_name, msg(b"dl-abandon"))
    await queue_client.dead_letter_message(await receive_one(queue_client, queue_name), "rejected")
    dead = await receive_one(queue_client, queue_name, dead_letter=True)
    await queue_client.abandon_message(dead)
    again = await receive_one(queue_client, queue_name, dead_letter=True)
    assert again.message_id == dead.message_id
    await queue_client.complete_message(again)
