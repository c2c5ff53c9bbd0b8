"""QueueProcessor: settlement by outcome, dead-lettering, session ordering and lock renewal."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest

from queue_runtime import DeadLetter, Message, ProcessorOptions, QueueClientFactory, QueueProcessor, ReceivedMessage

FAST = ProcessorOptions(receive_timeout=timedelta(seconds=0.05), session_idle_timeout=timedelta(seconds=0.05))


async def wait_until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - polling the processor's counters
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_outcomes_map_to_complete_abandon_and_dead_letter() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("jobs", max_delivery_count=2)
        await client.send_messages("jobs", [Message(b"ok"), Message(b"flaky"), Message(b"poison"), Message(b"bad")])
        attempts: dict[bytes, int] = defaultdict(int)

        async def handler(message: ReceivedMessage) -> None:
            attempts[message.body] += 1
            if message.body == b"flaky" and message.delivery_count == 1:
                raise RuntimeError("first try fails")
            if message.body == b"poison":
                raise RuntimeError("always fails")
            if message.body == b"bad":
                raise DeadLetter("Unprocessable", "body is not an event")

        processor = QueueProcessor(client, "jobs", handler, FAST)
        async with processor:
            await wait_until(lambda: processor.completed == 2 and processor.dead_lettered == 1
                             and processor.abandoned == 3)
        assert attempts == {b"ok": 1, b"flaky": 2, b"poison": 2, b"bad": 1}
        dead = await client.receive_dead_letter_messages("jobs", 10, timeout=0)
        reasons = {m.body: m.dead_letter_reason for m in dead}
        assert reasons == {b"poison": "MaxDeliveryCountExceeded", b"bad": "Unprocessable"}
        assert (await client.get_queue("jobs")).total_count == 0


@pytest.mark.asyncio
async def test_sessions_are_processed_in_order_and_in_parallel() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("orders", requires_session=True)
        for step in range(5):
            for order in ("o-1", "o-2", "o-3"):
                await client.send_message("orders", Message(str(step).encode(), session_id=order))
        seen: dict[str, list[int]] = defaultdict(list)
        active: set[str] = set()
        overlap = []

        async def handler(message: ReceivedMessage) -> None:
            assert message.session_id is not None
            assert message.session_id not in active, "two workers in one session"
            active.add(message.session_id)
            overlap.append(len(active))
            await asyncio.sleep(0.005)
            seen[message.session_id].append(int(message.body))
            active.discard(message.session_id)

        processor = QueueProcessor(client, "orders", handler, ProcessorOptions(
            max_concurrency=3, receive_timeout=timedelta(seconds=0.05), session_idle_timeout=timedelta(seconds=0.05)))
        async with processor:
            await wait_until(lambda: processor.completed == 15)
        assert seen == {order: [0, 1, 2, 3, 4] for order in ("o-1", "o-2", "o-3")}
        assert max(overlap) > 1  # sessions really ran side by side


@pytest.mark.asyncio
async def test_locks_are_renewed_while_a_slow_handler_runs() -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("slow", lock_duration=timedelta(seconds=1))
        await client.send_message("slow", Message(b"long job"))
        deliveries = []

        async def handler(message: ReceivedMessage) -> None:
            deliveries.append(message.delivery_count)
            await asyncio.sleep(1.6)  # longer than the lock: only renewal keeps it

        processor = QueueProcessor(client, "slow", handler, FAST)
        async with processor:
            await wait_until(lambda: processor.completed == 1)
        assert deliveries == [1]
