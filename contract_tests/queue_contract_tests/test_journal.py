"""The operation journal: settlements are recorded in order with their reasons, and wait-until-idle waits for
locked messages and reports what is busy (providers that declare ``journal``)."""

from __future__ import annotations

import pytest
from pytest_queue_runtime import QueueJournal

from queue_runtime import QueueClient

from ._helpers import msg, receive_all

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("journal")]


async def test_settlements_are_journaled_with_reasons_and_delivery_counts(
    queue_client: QueueClient, queue_name: str, queue_journal: QueueJournal
) -> None:
    await queue_client.send_messages(queue_name, [msg(b"good", message_id="good"), msg(b"bad", message_id="bad")])
    received = {str(m.message_id): m for m in await receive_all(queue_client, queue_name, 2)}
    assert set(received) == {"good", "bad"}
    await queue_client.complete_message(received["good"])
    await queue_client.dead_letter_message(received["bad"], "invalid-payload", "amount must be positive")
    await queue_journal.wait_until_idle(queue_name, timeout=5)
    [done] = await queue_journal.completed(queue_name)
    assert done.message_id == "good"
    [dead] = await queue_journal.dead_lettered(queue_name, reason="invalid-payload")
    assert (dead.message_id, dead.description) == ("bad", "amount must be positive")
    await queue_journal.published(queue_name, count=2)
    assert await queue_journal.delivery_counts(queue_name) == {"good": 1, "bad": 1}
    kinds = [e.kind.value for e in await queue_journal.entries(queue_name, message_id="good")]
    assert kinds == ["sent", "delivered", "completed"]


async def test_wait_until_idle_waits_for_locked_messages_and_says_what_is_busy(
    queue_client: QueueClient, queue_name: str, queue_journal: QueueJournal
) -> None:
    await queue_client.send_message(queue_name, msg(b"work", message_id="work"))
    with pytest.raises(AssertionError, match="1 receivable"):
        await queue_journal.wait_until_idle(queue_name, timeout=0.2)
    [received] = await receive_all(queue_client, queue_name, 1)
    with pytest.raises(AssertionError, match="1 locked"):
        await queue_journal.wait_until_idle(queue_name, timeout=0.2)
    await queue_client.complete_message(received)
    report = await queue_journal.wait_until_idle(queue_name, timeout=5)
    assert report.idle
