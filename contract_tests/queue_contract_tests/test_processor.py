"""What ``QueueProcessor`` needs of a provider: ``get_queue`` reports the options a queue was made with (the
processor reads ``requires_session`` and ``max_delivery_count`` from it), and the processor runs on the provider
with its default options."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pytest_queue_runtime import QueueNameFactory

from queue_runtime import ProcessorOptions, QueueClient, QueueProcessor, ReceivedMessage

from ._helpers import msg, receive_one

pytestmark = [pytest.mark.asyncio]

# Default options except shorter waits, so an idle worker asks again quickly.
QUICK = ProcessorOptions(receive_timeout=timedelta(seconds=0.5), session_idle_timeout=timedelta(seconds=0.5))


async def _until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - polling the processor's counters
            await asyncio.sleep(0.02)


async def test_get_queue_reports_the_options_the_queue_was_made_with(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(max_delivery_count=3)
    properties = await queue_client.get_queue(queue)
    assert properties.options.max_delivery_count == 3
    assert properties.options.requires_session is False


async def test_the_processor_completes_messages_with_default_options(
    queue_client: QueueClient, queue_name: str
) -> None:
    await queue_client.send_messages(queue_name, [msg(f"job-{i}") for i in range(3)])
    handled: list[bytes] = []

    async def handler(message: ReceivedMessage) -> None:
        handled.append(message.body)

    processor = QueueProcessor(queue_client, queue_name, handler, QUICK)
    async with processor:
        await _until(lambda: processor.completed == 3)
    assert sorted(handled) == [b"job-0", b"job-1", b"job-2"]


@pytest.mark.requires_capability("sessions")
async def test_the_processor_finds_out_that_a_queue_needs_sessions(
    queue_client: QueueClient, session_queue_name: str
) -> None:
    await queue_client.send_messages(session_queue_name, [msg(f"step-{i}", session_id="order-1") for i in range(3)])
    handled: list[bytes] = []

    async def handler(message: ReceivedMessage) -> None:
        assert message.session_id == "order-1"
        handled.append(message.body)

    processor = QueueProcessor(queue_client, session_queue_name, handler, QUICK)
    async with processor:
        await _until(lambda: processor.completed == 3)
    assert handled == [b"step-0", b"step-1", b"step-2"]


@pytest.mark.requires_capability("dead_letter")
async def test_the_processor_dead_letters_after_the_last_delivery_saying_why(
    queue_client: QueueClient, queue_name_factory: QueueNameFactory
) -> None:
    queue = await queue_name_factory(max_delivery_count=2)
    await queue_client.send_message(queue, msg(b"{}", message_id="evt-1"))

    async def handler(message: ReceivedMessage) -> None:
        raise ValueError("total must be positive")

    processor = QueueProcessor(queue_client, queue, handler, QUICK)
    async with processor:
        await _until(lambda: processor.dead_lettered == 1)
    assert processor.abandoned == 1
    dead = await receive_one(queue_client, queue, dead_letter=True)
    assert dead.message_id == "evt-1"
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.dead_letter_description == "[ValueError] handler failed on delivery 2: total must be positive"
