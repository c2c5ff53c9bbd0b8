"""Sending, receiving and completing: what survives the round trip, and what an empty queue answers."""

from __future__ import annotations

import time

import pytest

from queue_runtime import QueueClient
from queue_runtime.errors import MessageTooLargeError

from ._helpers import SHORT, msg, receive_all, receive_one
from .conftest import Timeline

pytestmark = pytest.mark.asyncio

BODIES = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "unicode": "Grüße, 世界! ✓ — ünïcödé 🚀".encode(),
    "json": b'{"order":{"id":42,"lines":[1,2,3]}}',
}


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
async def test_body_round_trip(queue_client: QueueClient, queue_name: str, body: bytes) -> None:
    sent_id = await queue_client.send_message(queue_name, msg(body))
    received = await receive_one(queue_client, queue_name)
    assert received.body == body
    assert received.message_id == sent_id
    await queue_client.complete_message(received)


async def test_maximum_size_body_round_trips(queue_client: QueueClient, queue_name: str) -> None:
    limit = queue_client.capabilities.max_message_size
    body = bytes(i % 251 for i in range(limit))
    await queue_client.send_message(queue_name, msg(body))
    received = await receive_one(queue_client, queue_name)
    assert len(received.body) == limit
    assert received.body == body
    await queue_client.complete_message(received)


async def test_size_limit_counts_attributes(queue_client: QueueClient, queue_name: str) -> None:
    limit = queue_client.capabilities.max_message_size
    attributes = {"tenant": "acme"}
    body = b"x" * (limit - len("tenant") - len("acme"))
    await queue_client.send_message(queue_name, msg(body, attributes=attributes))
    received = await receive_one(queue_client, queue_name)
    assert received.body == body and dict(received.attributes) == attributes
    await queue_client.complete_message(received)


async def test_one_byte_over_the_limit_is_a_clear_error(queue_client: QueueClient, queue_name: str) -> None:
    limit = queue_client.capabilities.max_message_size
    with pytest.raises(MessageTooLargeError) as caught:
        await queue_client.send_message(queue_name, msg(b"x" * (limit + 1)))
    assert caught.value.size == limit + 1 and caught.value.max_size == limit
    assert str(limit) in str(caught.value)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None


async def test_attributes_correlation_id_message_id_and_content_type_travel(
    queue_client: QueueClient, queue_name: str
) -> None:
    attributes = {
        "tenant": "acme-eu",
        "trace-id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "schema.version": "2.1",
    }
    message = msg(
        b'{"event":"order.created"}',
        attributes=attributes,
        correlation_id="req-7f3a9c",
        message_id="order-42-created",
        content_type="application/json",
    )
    sent_id = await queue_client.send_message(queue_name, message)
    assert sent_id == "order-42-created"
    received = await receive_one(queue_client, queue_name)
    assert received.message_id == "order-42-created"
    assert received.correlation_id == "req-7f3a9c"
    assert received.content_type == "application/json"
    assert dict(received.attributes) == attributes
    assert received.delivery_count >= 1
    await queue_client.complete_message(received)


async def test_subject_travels(queue_client: QueueClient, queue_name: str) -> None:
    await queue_client.send_message(queue_name, msg(b"x", subject="order.created"))
    received = await receive_one(queue_client, queue_name)
    assert received.subject == "order.created"
    assert received.to_message().subject == "order.created"
    await queue_client.complete_message(received)


async def test_generated_message_ids_are_unique(queue_client: QueueClient, queue_name: str) -> None:
    ids = await queue_client.send_messages(queue_name, [msg(f"m{i}") for i in range(5)])
    assert len(set(ids)) == 5
    received = await receive_all(queue_client, queue_name, 5)
    assert sorted(m.message_id for m in received) == sorted(ids)
    for message in received:
        await queue_client.complete_message(message)


async def test_empty_receive_returns_nothing_within_the_timeout(
    queue_client: QueueClient, queue_name: str
) -> None:
    started = time.monotonic()
    found = await queue_client.receive_messages(queue_name, 5, timeout=0.5)
    elapsed = time.monotonic() - started
    assert found == []
    assert elapsed < 0.5 + 2.0, f"an empty receive with a 0.5 s timeout took {elapsed:.2f} s"


async def test_receive_returns_as_soon_as_a_message_is_there(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_message(queue_name, msg(b"ready"))
    started = time.monotonic()
    received = await queue_client.receive_messages(queue_name, 10, timeout=10)
    assert received and time.monotonic() - started < 5.0
    for message in received:
        await queue_client.complete_message(message)


async def test_completed_messages_never_come_back(
    queue_client: QueueClient, queue_name: str, timeline: Timeline
) -> None:
    await queue_client.send_messages(queue_name, [msg(f"done-{i}") for i in range(3)])
    for message in await receive_all(queue_client, queue_name, 3):
        await queue_client.complete_message(message)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
    await timeline.elapse(timeline.lock * 2)
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
