"""Poison input: values no front could deliver are refused at send; a stored message a front cannot encode goes to the
dead-letter queue with a reason, and every other message is still delivered (REST here; AMQP in
tests/servicebus_sdk/test_poison_amqp.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from queue_emulator.rest.keys import BROKER

from queue_runtime import InMemoryConfig, Message, QueueClient
from queue_runtime.broker import Broker, BrokerMessage, dead_letter_path
from queue_runtime.errors import ValidationError
from queue_runtime.providers.memory import InMemoryProvider

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]

YEAR_10000 = "9999-12-31T23:59:59-12:00"  # year 10000 in UTC


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.request(method, path, json=body)
    answer = await response.json() if response.status != 204 else None
    assert response.status == status, f"{method} {path}: {response.status} {answer}"
    return answer


@pytest_asyncio.fixture
async def http(emu_http: Client) -> Client:
    await call(emu_http, "PUT", "/v1/queues/q", {"lock_duration": 10}, status=201)
    await call(emu_http, "POST", "/v1/queues/q/messages", {"messages": [{"body": b64(b"before")}]})
    return emu_http


async def _still_healthy(http: Client) -> None:
    peeked = await call(http, "POST", "/v1/queues/q/messages/peek", {"max_messages": 10})
    assert [base64.b64decode(m["body"]) for m in peeked["messages"]] == [b"before"]
    got = await call(http, "POST", "/v1/queues/q/messages/receive", {"max_messages": 10})
    assert [base64.b64decode(m["body"]) for m in got["messages"]] == [b"before"]


@pytest.mark.parametrize("value", [2**64, 2**63, 2**64 - 1, -(2**63) - 1, 10**30])
@pytest.mark.asyncio
async def test_integer_properties_outside_signed_64_bits_are_refused_at_send(http: Client, value: int) -> None:
    answer = await call(http, "POST", "/v1/queues/q/messages", {"messages": [
        {"body": b64(b"poison"), "application_properties": {"n": value}}]}, status=400)
    assert answer["error"]["code"] == "validation_error"
    assert answer["error"]["details"]["field"] == "application_properties"
    await _still_healthy(http)


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63)])
@pytest.mark.asyncio
async def test_the_edges_of_signed_64_bits_are_accepted_and_delivered(http: Client, value: int) -> None:
    await call(http, "POST", "/v1/queues/q/messages", {"messages": [
        {"body": b64(b"edge"), "application_properties": {"n": value}}]})
    got = await call(http, "POST", "/v1/queues/q/messages/receive", {"max_messages": 10})
    assert [m["application_properties"].get("n") for m in got["messages"]] == [None, value]


@pytest.mark.asyncio
async def test_a_scheduled_time_in_year_10000_is_refused_at_send_and_schedule(http: Client) -> None:
    answer = await call(http, "POST", "/v1/queues/q/messages", {"messages": [
        {"body": b64(b"poison"), "scheduled_enqueue_time": YEAR_10000}]}, status=400)
    assert answer["error"]["details"]["field"] == "scheduled_enqueue_time"
    answer = await call(http, "POST", "/v1/queues/q/messages/schedule",
                        {"messages": [{"body": b64(b"poison")}], "at": YEAR_10000}, status=400)
    assert answer["error"]["details"]["field"] == "scheduled_enqueue_time"
    await _still_healthy(http)


@pytest.mark.asyncio
async def test_the_library_refuses_year_10000_with_a_typed_error() -> None:
    async with QueueClient(InMemoryProvider(InMemoryConfig())) as client:
        await client.create_queue("q")
        late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
        with pytest.raises(ValidationError) as info:
            await client.send_message("q", Message(b"x", scheduled_enqueue_time=late))
        assert info.value.field == "scheduled_enqueue_time"
        await client.send_message("q", Message(b"ok", scheduled_enqueue_time=datetime.now(UTC)))
        assert (await client.receive_message("q", 1)) is not None


def _store_unencodable(broker: Broker) -> None:
    """A message JSON cannot carry (a lone surrogate in a text field: no front lets one in today, the in-process
    engine does), stored directly in the engine between two good ones."""
    broker.send("q", [BrokerMessage(body=b"bad", message_id="bad", subject="half a pair \ud800")])
    broker.send("q", [BrokerMessage(body=b"after")])


@pytest.mark.parametrize("receive_and_delete", [False, True])
@pytest.mark.asyncio
async def test_a_message_rest_cannot_encode_is_dead_lettered_and_the_others_are_delivered(
    http: Client, receive_and_delete: bool
) -> None:
    broker = http.server.app[BROKER]
    _store_unencodable(broker)
    got = await call(http, "POST", "/v1/queues/q/messages/receive",
                     {"max_messages": 10, "receive_and_delete": receive_and_delete})
    assert [base64.b64decode(m["body"]) for m in got["messages"]] == [b"before", b"after"]
    (dead,) = broker.peek(dead_letter_path("q"), 1, 10)
    assert dead.message_id == "bad" and dead.dead_letter_reason == "MessageCannotBeEncoded"
    assert "REST front cannot encode" in (dead.dead_letter_description or "")
    # a peek of the dead-letter queue leaves it out instead of failing; the queue itself answers normally
    peeked = await call(http, "POST", "/v1/queues/q/messages/peek", {"max_messages": 10, "dead_letter": True})
    assert peeked["messages"] == []
    assert broker.get_queue("q").dead_letter_count == 1
