"""Limits and refusals as Service Bus applies them, through the real SDK (sync and async): the advertised message
size, non-session receivers on session queues, tokens for entities that do not exist, and the session list filter."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusAuthenticationError, ServiceBusError

from .conftest import Emulator

pytestmark = pytest.mark.timeout(60)

WAIT = 1
STANDARD_LIMIT = 262_144


def client(emu: Emulator) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(), retry_total=0)


def async_client(emu: Emulator) -> AsyncServiceBusClient:
    return AsyncServiceBusClient.from_connection_string(emu.connection_string(), retry_total=0)


def test_the_sender_link_advertises_the_standard_limit_and_the_sdk_refuses_before_sending(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        batch = sender.create_message_batch()
        assert batch.max_size_in_bytes == STANDARD_LIMIT
        with pytest.raises(MessageSizeExceededError):
            batch.add_message(ServiceBusMessage(b"x" * (STANDARD_LIMIT + 1)))
        # A single message over the limit is refused by the emulator's link with the Service Bus condition,
        # and the link stays usable.
        with pytest.raises(MessageSizeExceededError, match="exceeds the limit"):
            sender.send_messages(ServiceBusMessage(b"x" * (STANDARD_LIMIT + 1)), timeout=10)
        sender.send_messages(ServiceBusMessage(b"x" * 200_000), timeout=10)
    assert emulator.counts(queue).active_count == 1


@pytest.mark.asyncio
async def test_the_advertised_limit_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        batch = await sender.create_message_batch()
        assert batch.max_size_in_bytes == STANDARD_LIMIT
        with pytest.raises(MessageSizeExceededError):
            batch.add_message(ServiceBusMessage(b"x" * (STANDARD_LIMIT + 1)))
        with pytest.raises(MessageSizeExceededError):
            await sender.send_messages(ServiceBusMessage(b"x" * (STANDARD_LIMIT + 1)), timeout=10)


def test_a_configured_premium_limit_is_advertised(premium_emulator: Emulator) -> None:
    queue = premium_emulator.queue()
    with client(premium_emulator) as sb, sb.get_queue_sender(queue) as sender:
        # the SDK caps batches at 1 MB on namespaces that advertise more (Premium)
        assert sender.create_message_batch().max_size_in_bytes == 1024 * 1024
        sender.send_messages(ServiceBusMessage(b"x" * 1_000_000), timeout=10)


def test_a_non_session_receiver_on_a_session_queue_is_refused_at_attach(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb:
        receiver = sb.get_queue_receiver(queue, max_wait_time=WAIT)
        with pytest.raises(ServiceBusError, match="requires sessions"):
            with receiver:
                receiver.receive_messages(max_wait_time=WAIT)


@pytest.mark.asyncio
async def test_a_non_session_receiver_on_a_session_queue_is_refused_async(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with async_client(emulator) as sb:
        receiver = sb.get_queue_receiver(queue, max_wait_time=WAIT)
        with pytest.raises(ServiceBusError, match="requires sessions"):
            async with receiver:
                await receiver.receive_messages(max_wait_time=WAIT)


def _cbs_failure(error: BaseException) -> tuple[int, str]:
    """The put-token status the SDK keeps on the cause of its ServiceBusAuthenticationError."""
    cause = getattr(error, "inner_exception", None)
    status, description = getattr(cause, "status_code", None), getattr(cause, "status_description", None)
    assert isinstance(status, int), repr(cause)
    return status, description.decode() if isinstance(description, bytes) else str(description)


def test_a_token_for_an_unknown_entity_fails_with_404(emulator: Emulator) -> None:
    with client(emulator) as sb, pytest.raises(ServiceBusAuthenticationError) as info:
        with sb.get_queue_sender("no-such-queue") as sender:
            sender.send_messages(ServiceBusMessage(b"x"), timeout=10)
    status, description = _cbs_failure(info.value)
    assert status == 404 and "could not be found" in description


@pytest.mark.asyncio
async def test_a_token_for_an_unknown_entity_fails_with_404_async(emulator: Emulator) -> None:
    async with async_client(emulator) as sb:
        with pytest.raises(ServiceBusAuthenticationError) as info:
            async with sb.get_queue_receiver("no-such-queue", max_wait_time=WAIT) as receiver:
                await receiver.receive_messages(max_wait_time=WAIT)
    assert _cbs_failure(info.value)[0] == 404


def _sessions_with_state(emu: Emulator, sb: ServiceBusClient, queue: str) -> dt.datetime:
    with sb.get_queue_sender(queue) as sender:
        sender.send_messages([ServiceBusMessage(b"m", session_id=s) for s in ("old", "new", "no-state")])
    with sb.get_queue_receiver(queue, session_id="old", max_wait_time=WAIT) as receiver:
        receiver.session.set_state(b"1")
    time.sleep(0.05)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    with sb.get_queue_receiver(queue, session_id="new", max_wait_time=WAIT) as receiver:
        receiver.session.set_state(b"2")
    return between


def test_list_queue_sessions_filters_by_last_updated_time(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb:
        between = _sessions_with_state(emulator, sb, queue)
        assert sorted(sb.list_queue_sessions(queue, timeout=10)) == ["new", "no-state", "old"]
        assert list(sb.list_queue_sessions(queue, state_updated_after=between, timeout=10)) == ["new"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
        assert list(sb.list_queue_sessions(queue, state_updated_after=later, timeout=10)) == []


@pytest.mark.asyncio
async def test_list_queue_sessions_filters_async(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb:
        between = _sessions_with_state(emulator, sb, queue)
    async with async_client(emulator) as sb_async:
        found = [s async for s in sb_async.list_queue_sessions(queue, state_updated_after=between, timeout=10)]
        assert found == ["new"]
