"""Ids other clients send: our rules refuse them on send, but a consumer must take them as the broker delivers them.

The Azure SDK sends ``message_id``/``session_id`` values that ``MessageId``/``SessionId`` would refuse (a space,
a non-ASCII letter). Received through queue_runtime, over the emulator's AMQP front with the real SDK underneath and
over REST, every message arrives, none goes to the dead-letter queue, and a session named that way can be accepted
by name, received from and closed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from queue_runtime import AzureServiceBusConfig, EmulatorConfig, Message, QueueClient
from queue_runtime.errors import ValidationError
from queue_runtime.providers.emulator import EmulatorProvider
from queue_runtime.providers.servicebus import ServiceBusProvider

from .conftest import Emulator
from .test_rest_roundtrip import rest_url  # noqa: F401  (the fixture)

FOREIGN_MESSAGE_ID = "order 7 for José"
FOREIGN_SESSION_ID = "tenant a/ü b"


def _send_foreign(emulator: Emulator, queue: str, session_queue: str) -> None:
    sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with sb, sb.get_queue_sender(queue) as sender, sb.get_queue_sender(session_queue) as session_sender:
        sender.send_messages([ServiceBusMessage(f"ok {i}", message_id=f"ok-{i}") for i in range(4)])
        sender.send_messages(ServiceBusMessage("foreign", message_id=FOREIGN_MESSAGE_ID))
        sender.send_messages([ServiceBusMessage(f"ok {i}", message_id=f"ok-{i}") for i in range(4, 9)])
        session_sender.send_messages(
            [ServiceBusMessage(f"s{i}", session_id=FOREIGN_SESSION_ID, message_id=f"é {i}") for i in range(3)]
        )


async def _consume(client: QueueClient, queue: str, session_queue: str) -> None:
    got = []
    for _ in range(20):
        batch = await client.receive_messages(queue, 10, timeout=timedelta(seconds=1))
        for message in batch:
            await client.complete_message(message)
        got.extend(batch)
        if len(got) >= 10:
            break
    assert sorted(m.message_id for m in got) == sorted([FOREIGN_MESSAGE_ID, *(f"ok-{i}" for i in range(9))])
    assert (await client.get_queue(queue)).dead_letter_count == 0

    async with await client.accept_session(session_queue, timeout=5) as session:
        assert session.session_id == FOREIGN_SESSION_ID
        first = await session.receive_message(timeout=5)
        assert first is not None and first.session_id == FOREIGN_SESSION_ID and first.message_id == "é 0"
        await session.complete_message(first)
    # named by the id the broker delivered, or by the same plain string
    async with await client.accept_session(session_queue, FOREIGN_SESSION_ID, timeout=5) as session:
        rest = await session.receive_messages(5, timeout=1)
        assert [m.message_id for m in rest] == ["é 1", "é 2"]
        for message in rest:
            await session.complete_message(message)
    assert (await client.get_queue(session_queue)).active_count == 0

    # What we send is still held to our rules.
    with pytest.raises(ValidationError):
        Message(b"x", message_id=FOREIGN_MESSAGE_ID)


def test_foreign_ids_from_the_sdk_received_through_the_servicebus_provider(
    emulator: Emulator, rest_url: str  # noqa: F811
) -> None:
    queue, session_queue = emulator.queue(), emulator.queue(sessions=True)
    _send_foreign(emulator, queue, session_queue)

    async def main() -> None:
        provider = await ServiceBusProvider.connect(
            AzureServiceBusConfig(connection_string=emulator.connection_string(), emulator_management_url=rest_url)
        )
        async with QueueClient(provider) as client:
            await _consume(client, queue, session_queue)

    asyncio.run(main())


def test_foreign_ids_from_the_sdk_received_through_rest(emulator: Emulator, rest_url: str) -> None:  # noqa: F811
    queue, session_queue = emulator.queue(), emulator.queue(sessions=True)
    _send_foreign(emulator, queue, session_queue)

    async def main() -> None:
        provider = await EmulatorProvider.connect(EmulatorConfig(url=rest_url))
        async with QueueClient(provider) as client:
            await _consume(client, queue, session_queue)

    asyncio.run(main())
