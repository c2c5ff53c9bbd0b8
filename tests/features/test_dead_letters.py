"""DeadLetterManager rules that need a fault no real broker produces on demand (the completion of a dead-letter
copy failing after the resubmit was sent), and the processor's failure metadata (spec N: D2, D5, D9, D10).
The provider-independent behaviour is in the contract suite (test_dead_letter_management.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from queue_runtime import (
    DeadLetter,
    DeadLetterManager,
    InMemoryConfig,
    Message,
    MessageId,
    ProcessorOptions,
    QueueClient,
    QueueProcessor,
    ReceivedMessage,
)
from queue_runtime.errors import MessageLockLostError, UnsupportedOperationError
from queue_runtime.providers.memory import InMemoryProvider
from queue_runtime.testing import FaultInjectingProvider

FAST = ProcessorOptions(receive_timeout=timedelta(seconds=0.05), session_idle_timeout=timedelta(seconds=0.05))


async def dead_lettered(client: QueueClient, queue: str, *ids: str) -> None:
    await client.send_messages(queue, [Message(i.encode(), message_id=MessageId(i)) for i in ids])
    for received in await client.receive_messages(queue, len(ids), timeout=0):
        await client.dead_letter_message(received, "rejected")


@pytest.mark.asyncio
async def test_a_failed_completion_after_the_send_duplicates_and_never_loses_D5() -> None:
    provider = FaultInjectingProvider(InMemoryProvider(InMemoryConfig()))
    async with QueueClient(provider) as client:
        await client.create_queue("jobs")
        await dead_lettered(client, "jobs", "a")
        provider.fail("complete", MessageLockLostError("lock ran out"))
        result = await DeadLetterManager(client, receive_timeout=timedelta(0)).resubmit_all("jobs")
        assert result.success_count == 0 and result.failure_count == 1
        failure = result.failures[0]
        assert failure.stage == "complete" and failure.message_id == "a" and failure.resubmitted_id is not None
        back = await client.receive_message("jobs", timeout=0)
        assert back is not None and back.message_id == failure.resubmitted_id and back.body == b"a"
        still = await client.receive_dead_letter_messages("jobs", 5, timeout=0)
        assert [m.message_id for m in still] == ["a"]


@pytest.mark.asyncio
async def test_keep_message_id_resends_with_the_same_id() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("jobs")
        await dead_lettered(client, "jobs", "same-1")
        manager = DeadLetterManager(client, receive_timeout=timedelta(0), keep_message_id=True)
        result = await manager.resubmit_all("jobs")
        assert result.resubmitted == {"same-1": "same-1"}
        back = await client.receive_message("jobs", timeout=0)
        assert back is not None and back.message_id == "same-1"
        assert "queue_runtime.original_message_id" not in back.attributes


@pytest.mark.asyncio
async def test_a_predicate_that_raises_leaves_every_dead_letter_in_place() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("jobs")
        await dead_lettered(client, "jobs", "a", "b", "c")
        manager = DeadLetterManager(client, receive_timeout=timedelta(0))

        def broken(entry: object) -> bool:
            raise RuntimeError("bad predicate")

        with pytest.raises(RuntimeError):
            await manager.resubmit_where("jobs", broken)
        assert sorted(e.message_id for e in await manager.list("jobs")) == ["a", "b", "c"]
        again = await client.receive_dead_letter_messages("jobs", 5, timeout=0)
        assert len(again) == 3  # none left locked


@pytest.mark.asyncio
async def test_processor_failure_metadata_feeds_the_summary_D2_D10() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("jobs", max_delivery_count=1)
        await client.send_messages(
            "jobs", [Message(b"value"), Message(b"typed"), Message(b"not-json"), Message(b"flaky")]
        )

        async def handler(message: ReceivedMessage) -> None:
            if message.body == b"value":
                try:
                    int("x")
                except ValueError as exc:
                    raise DeadLetter("invalid-amount", "amount is not a number") from exc
            if message.body == b"typed":
                raise DeadLetter("rejected", "by policy", error_type="PolicyViolation")
            if message.body == b"not-json":
                message.json()
            raise RuntimeError("boom")

        processor = QueueProcessor(client, "jobs", handler, FAST)
        async with processor:
            while processor.dead_lettered + processor.abandoned < 4:  # noqa: ASYNC110 - polling counters
                await asyncio.sleep(0.01)
        manager = DeadLetterManager(client, receive_timeout=timedelta(0))
        by_body = {e.message.body: e for e in await manager.list("jobs")}
        assert by_body[b"value"].error_type == "ValueError"
        assert by_body[b"value"].description == "[ValueError] amount is not a number"
        assert by_body[b"typed"].error_type == "PolicyViolation"
        assert by_body[b"not-json"].error_type == "MessageDecodeError"
        # The processor dead-letters on the last delivery itself, saying which exception it was.
        assert by_body[b"flaky"].reason == "MaxDeliveryCountExceeded" and by_body[b"flaky"].error_type == "RuntimeError"
        summary = await manager.summary("jobs")
        assert summary.total == 4
        expected = {"ValueError": 1, "PolicyViolation": 1, "MessageDecodeError": 1, "RuntimeError": 1}
        assert summary.by_error_type == expected


def test_a_provider_without_dead_letter_queues_is_refused() -> None:
    provider = FaultInjectingProvider(InMemoryProvider(InMemoryConfig()))
    provider.capabilities = dataclasses.replace(provider.capabilities, dead_letter=False)
    with pytest.raises(UnsupportedOperationError):
        DeadLetterManager(QueueClient(provider))
