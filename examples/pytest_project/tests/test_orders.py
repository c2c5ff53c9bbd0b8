"""An application's own tests against the queue emulator: no setup code, only the plugin's fixtures."""

from __future__ import annotations

from datetime import timedelta

from queue_runtime import Message, QueueClient


async def publish_order(client: QueueClient, queue: str, order_id: int) -> None:
    """The code under test: what the service does when an order is placed."""
    await client.send_message(
        queue, Message.from_json({"order_id": order_id, "status": "placed"}, attributes={"kind": "order"})
    )


async def test_an_order_is_published_once(queue_client: QueueClient, queue_name: str) -> None:
    await publish_order(queue_client, queue_name, 42)
    received = await queue_client.receive_message(queue_name, timeout=2)
    assert received is not None
    assert received.json() == {"order_id": 42, "status": "placed"}
    assert received.attributes["kind"] == "order"
    await queue_client.complete_message(received)
    assert await queue_client.receive_message(queue_name, timeout=0.2) is None


async def test_an_unfinished_order_comes_back_after_the_lock_expires(
    queue_client: QueueClient, queue_name: str, queue_clock
) -> None:
    await publish_order(queue_client, queue_name, 7)
    first = await queue_client.receive_message(queue_name, timeout=2)
    assert first is not None
    await queue_clock.advance(timedelta(seconds=31))  # the default lock is 30 s: no real waiting
    again = await queue_client.receive_message(queue_name, timeout=2)
    assert again is not None and again.delivery_count == first.delivery_count + 1
    await queue_client.complete_message(again)
