"""Settling on SQS (moto server): complete, abandon, renew, dead-letter, redrive, stale receipts, delays."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqs_support import MakeProvider, make_queue

from queue_runtime import Message, QueueName, ReceiptHandle, SessionId
from queue_runtime.errors import (
    MessageLockLostError,
    QueueNotFoundError,
    UnsupportedOperationError,
    ValidationError,
)
from queue_runtime.providers.sqs import SqsProvider

ZERO = timedelta(0)
SHORT = timedelta(seconds=1)


async def one(provider: SqsProvider, queue: QueueName, **kw: Any) -> Any:
    found = await provider.receive_messages(queue, 1, SHORT, **kw)
    assert len(found) == 1, "expected exactly one message"
    return found[0]


@pytest.mark.asyncio
async def test_complete_deletes(standard: SqsProvider) -> None:
    queue = await make_queue(standard)
    await standard.send_messages(queue, [Message(b"x")])
    got = await one(standard, queue)
    await standard.complete(got.receipt_handle)
    properties = await standard.get_queue(queue)
    assert properties.active_count + properties.locked_count == 0
    with pytest.raises(MessageLockLostError):  # settling twice
        await standard.complete(got.receipt_handle)


@pytest.mark.asyncio
async def test_abandon_makes_the_message_visible_at_once(standard: SqsProvider) -> None:
    queue = await make_queue(standard, lock_duration=300)
    await standard.send_messages(queue, [Message(b"x")])
    first = await one(standard, queue)
    await standard.abandon(first.receipt_handle)
    again = await one(standard, queue)
    assert again.message_id == first.message_id and again.delivery_count == 2
    assert again.receipt_handle.token != first.receipt_handle.token  # SQS issues a new receipt handle
    with pytest.raises(MessageLockLostError):
        await standard.complete(first.receipt_handle)


@pytest.mark.asyncio
async def test_stale_receipt_is_lock_lost_and_the_message_survives(standard: SqsProvider) -> None:
    queue = await make_queue(standard, lock_duration=1)
    await standard.send_messages(queue, [Message(b"x")])
    first = await one(standard, queue)
    await asyncio.sleep(1.1)  # the visibility timeout runs out
    with pytest.raises(MessageLockLostError):
        await standard.complete(first.receipt_handle)
    # moto (and SQS on standard queues) would accept the stale DeleteMessage - moto even deletes the message.
    # The provider refuses it locally from the receipt's deadline, so the message is still there:
    again = await one(standard, queue)
    assert again.message_id == first.message_id and again.delivery_count == 2
    await standard.complete(again.receipt_handle)


@pytest.mark.asyncio
async def test_renew_lock_extends_the_visibility(standard: SqsProvider) -> None:
    queue = await make_queue(standard, lock_duration=1)
    await standard.send_messages(queue, [Message(b"x")])
    got = await one(standard, queue)
    await asyncio.sleep(0.5)
    until = await standard.renew_lock(got.receipt_handle)
    assert until > got.locked_until
    assert timedelta(seconds=0.5) < until - datetime.now(UTC) <= timedelta(seconds=1)
    await asyncio.sleep(0.7)  # past the first deadline, inside the renewed one
    assert await standard.receive_messages(queue, 1, ZERO) == []
    await standard.complete(got.receipt_handle)


@pytest.mark.asyncio
async def test_a_receipt_made_from_the_token_alone_still_settles(standard: SqsProvider) -> None:
    queue = await make_queue(standard)
    await standard.send_messages(queue, [Message(b"x")])
    got = await one(standard, queue)
    await standard.complete(ReceiptHandle(token=got.receipt_handle.token, queue=queue))
    assert (await standard.get_queue(queue)).locked_count == 0


@pytest.mark.asyncio
async def test_dead_letter_copies_with_reason_then_deletes(standard: SqsProvider) -> None:
    queue = await make_queue(standard)
    body = bytes(range(256))
    await standard.send_messages(queue, [Message(body, attributes={"k": "v"}, correlation_id="c-1")])
    got = await one(standard, queue)
    await standard.dead_letter(got.receipt_handle, "Poison", "could not parse")
    assert await standard.receive_messages(queue, 1, ZERO) == []
    dead = await one(standard, queue, dead_letter=True)
    assert (dead.body, dict(dead.attributes), dead.correlation_id) == (body, {"k": "v"}, "c-1")
    assert (dead.dead_letter_reason, dead.dead_letter_description) == ("Poison", "could not parse")
    assert dead.message_id == got.message_id and dead.receipt_handle.dead_letter
    with pytest.raises(UnsupportedOperationError):
        await standard.dead_letter(dead.receipt_handle, "again", None)
    await standard.complete(dead.receipt_handle)
    assert (await standard.get_queue(queue)).dead_letter_count == 0


@pytest.mark.asyncio
async def test_dead_letter_keeps_the_original_when_the_copy_fails(
    standard: SqsProvider, raw_sqs: Any
) -> None:
    queue = await make_queue(standard, lock_duration=300)
    await standard.send_messages(queue, [Message(b"precious")])
    got = await one(standard, queue)
    dlq = standard.sqs_queue_name(queue, dead_letter=True)
    await raw_sqs.delete_queue(QueueUrl=(await raw_sqs.get_queue_url(QueueName=dlq))["QueueUrl"])
    with pytest.raises(QueueNotFoundError):
        await standard.dead_letter(got.receipt_handle, "Poison", None)
    await standard.abandon(got.receipt_handle)  # the original was not deleted and its lock is still ours
    assert (await one(standard, queue)).body == b"precious"


@pytest.mark.asyncio
async def test_redrive_moves_to_the_dlq_after_max_delivery_count(standard: SqsProvider, raw_sqs: Any) -> None:
    queue = await make_queue(standard, max_delivery_count=2)
    url = (await raw_sqs.get_queue_url(QueueName=standard.sqs_queue_name(queue)))["QueueUrl"]
    policy = (await raw_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]))[
        "Attributes"
    ]
    assert int(json.loads(policy["RedrivePolicy"])["maxReceiveCount"]) == 2
    await standard.send_messages(queue, [Message(b"x")])
    for attempt in (1, 2):
        got = await one(standard, queue)
        assert got.delivery_count == attempt
        await standard.abandon(got.receipt_handle)
    # The third receive finds it over maxReceiveCount: SQS (and moto) move it to the DLQ instead.
    assert await standard.receive_messages(queue, 1, ZERO) == []
    dead = await one(standard, queue, dead_letter=True)
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.delivery_count >= 2  # moto 5.2.5 reports 3: it counts the receive that moved it


@pytest.mark.asyncio
async def test_scheduling_delays_within_fifteen_minutes(standard: SqsProvider) -> None:
    queue = await make_queue(standard)
    at = datetime.now(UTC) + timedelta(seconds=1)
    assert await standard.schedule_messages(queue, [Message(b"later")], at) == [0]
    assert await standard.receive_messages(queue, 1, ZERO) == []
    got = (await standard.receive_messages(queue, 1, timedelta(seconds=3)))[0]
    assert got.body == b"later" and got.scheduled_enqueue_time is not None
    assert abs((got.scheduled_enqueue_time - at).total_seconds()) < 0.01
    with pytest.raises(ValidationError) as caught:
        await standard.schedule_messages(queue, [Message(b"x")], datetime.now(UTC) + timedelta(minutes=16))
    assert "900 seconds (15 minutes)" in caught.value.rule
    with pytest.raises(UnsupportedOperationError):
        await standard.cancel_scheduled(queue, [0])


@pytest.mark.asyncio
async def test_fifo_queues_cannot_schedule(fifo: SqsProvider) -> None:
    assert not fifo.capabilities.scheduling
    queue = await make_queue(fifo)
    with pytest.raises(UnsupportedOperationError) as caught:
        await fifo.schedule_messages(
            queue, [Message(b"x", session_id=SessionId("s"))], datetime.now(UTC) + timedelta(seconds=5)
        )
    assert "per-message delay" in caught.value.message


@pytest.mark.asyncio
async def test_dead_letter_on_fifo_keeps_the_group(make_provider: MakeProvider) -> None:
    provider = make_provider(fifo=True)
    queue = await make_queue(provider)
    await provider.send_messages(queue, [Message(b"x", session_id=SessionId("grp"))])
    got = await one(provider, queue)
    await provider.dead_letter(got.receipt_handle, "Bad", None)
    dead = await one(provider, queue, dead_letter=True)
    assert dead.session_id == "grp" and dead.dead_letter_reason == "Bad"


@pytest.mark.asyncio
async def test_no_dead_letter_queue_when_disabled(make_provider: MakeProvider) -> None:
    provider = make_provider(enable_dead_letter_queue=False)
    assert not provider.capabilities.dead_letter
    queue = await make_queue(provider)
    await provider.send_messages(queue, [Message(b"x")])
    got = await one(provider, queue)
    with pytest.raises(UnsupportedOperationError):
        await provider.dead_letter(got.receipt_handle, "r", None)
    with pytest.raises(UnsupportedOperationError):
        await provider.receive_messages(queue, 1, ZERO, dead_letter=True)
