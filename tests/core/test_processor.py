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
            await wait_until(lambda: processor.completed == 2 and processor.dead_lettered == 2
                             and processor.abandoned == 2)
        assert attempts == {b"ok": 1, b"flaky": 2, b"poison": 2, b"bad": 1}
        dead = await client.receive_dead_letter_messages("jobs", 10, timeout=0)
        reasons = {m.body: m.dead_letter_reason for m in dead}
        assert reasons == {b"poison": "MaxDeliveryCountExceeded", b"bad": "Unprocessable"}
        descriptions = {m.body: m.dead_letter_description for m in dead}
        assert descriptions[b"poison"] == "[RuntimeError] handler failed on delivery 2: always fails"
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


@pytest.mark.asyncio
async def test_a_failure_is_logged_with_message_and_traceback_and_ends_in_the_description(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("events", max_delivery_count=3)
        await client.send_message("events", Message(b"{}"))

        async def handler(message: ReceivedMessage) -> None:
            event: dict[str, str] = {}
            print(event["customer_id" + "x" * 2000])  # a KeyError with a long message

        processor = QueueProcessor(client, "events", handler, FAST)
        with caplog.at_level("WARNING", logger="queue_runtime.processor"):
            async with processor:
                await wait_until(lambda: processor.dead_lettered == 1)
        failures = [r for r in caplog.records if r.name == "queue_runtime.processor"]
        assert [r.levelname for r in failures] == ["WARNING"] * 3
        assert "(delivery 1 of 3): KeyError: 'customer_idxx" in failures[0].getMessage()
        assert "dead-lettering it" in failures[2].getMessage()
        assert failures[0].exc_info is not None and failures[0].exc_info[0] is KeyError
        assert "in handler" in caplog.text  # the traceback is in the log
        (dead,) = await client.receive_dead_letter_messages("events", 10, timeout=0)
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert dead.dead_letter_description is not None
        assert dead.dead_letter_description.startswith("[KeyError] handler failed on delivery 3: 'customer_idxx")
        assert len(dead.dead_letter_description) == 1024 and dead.dead_letter_description.endswith("...")
        assert (processor.completed, processor.abandoned, processor.dead_lettered) == (0, 2, 1)


@pytest.mark.asyncio
@pytest.mark.parametrize("sessions", [False, True])
async def test_stop_is_prompt_while_in_flight_handlers_finish(sessions: bool) -> None:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("idle", requires_session=sessions)
        # Receives that wait an hour: stop() must give them up, not wait them out (the timeout only catches a hang).
        slow = ProcessorOptions(receive_timeout=timedelta(hours=1), session_idle_timeout=timedelta(hours=1))
        async with asyncio.timeout(30):
            async with QueueProcessor(client, "idle", _nothing, slow):
                await asyncio.sleep(0.05)  # the worker is now waiting in its receive

        await client.send_message("idle", Message(b"job", session_id="s-1" if sessions else None))
        gate = asyncio.Event()
        finished = []

        async def handler(message: ReceivedMessage) -> None:
            gate.set()
            await asyncio.sleep(0.3)
            finished.append(message.body)

        processor = QueueProcessor(client, "idle", handler, slow)
        async with processor:
            await asyncio.wait_for(gate.wait(), 5)  # stop while the handler runs
        assert finished == [b"job"] and processor.completed == 1
        assert (await client.get_queue("idle")).total_count == 0


async def _nothing(message: ReceivedMessage) -> None:
    pass
