"""The journal through every front: REST queries, the live NDJSON stream, wait-idle, hand-held actions (purge,
resubmit, delete), the provider's JournalControl (memory and emulator alike), and AMQP clients (the azure SDK and
a QueueProcessor over the servicebus provider) showing up with their connection."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from emu_support import Target
from queue_emulator.app import create_app
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

from queue_runtime import (
    AzureServiceBusConfig,
    EmulatorConfig,
    Message,
    ProcessorOptions,
    QueueClientFactory,
    QueueConfig,
    QueueName,
    QueueOptions,
    QueueProcessor,
    ReceivedMessage,
)
from queue_runtime.broker import JournalKind
from queue_runtime.providers.emulator import EmulatorControl, EmulatorProvider

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]
pytestmark = pytest.mark.asyncio


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
    response = await client.request(method, path, json=body, **kw)
    text = await response.text()
    assert response.status == status, f"{method} {path}: {response.status} {text}"
    return json.loads(text) if text else None


async def send(client: Client, queue: str, *ids: str, **kw: Any) -> list[int]:
    body = {"messages": [{"body": b64(i.encode()), "message_id": i} for i in ids]}
    answer = await call(client, "POST", f"/v1/queues/{queue}/messages", body, **kw)
    return list(answer["sequence_numbers"])


async def test_query_by_entity_kind_message_id_and_time_with_the_client_named(emu_http: Client) -> None:
    await call(emu_http, "PUT", "/v1/queues/orders", {}, 201)
    await call(emu_http, "PUT", "/v1/queues/other", {}, 201)
    await send(emu_http, "orders", "a", "b", headers={"X-Request-Id": "test-42"})
    await send(emu_http, "other", "c")
    got = await call(emu_http, "POST", "/v1/queues/orders/messages/receive", {"max_messages": 1})
    token = got["messages"][0]["lock_token"]
    await call(emu_http, "POST", f"/v1/queues/orders/locks/{token}/dead-letter",
               {"reason": "Invalid", "description": "no total"}, 204)
    everything = await call(emu_http, "GET", "/v1/_control/journal")
    assert [(e["kind"], e["entity"], e["message_id"]) for e in everything["entries"]] == [
        ("sent", "orders", "a"), ("sent", "orders", "b"), ("sent", "other", "c"),
        ("delivered", "orders", "a"), ("dead_lettered", "orders", "a"),
    ]
    assert everything["recorded"] == 5 and everything["dropped"] == 0 and everything["size"] == 10_000
    first = everything["entries"][0]
    assert first["client"] == "rest:test-42" and first["sequence_number"] == 1
    assert everything["entries"][2]["client"].startswith("rest:127.0.0.1")
    delivered = everything["entries"][3]
    assert delivered["delivery_count"] == 1 and delivered["locked_until"] is not None
    dead = everything["entries"][4]
    assert (dead["reason"], dead["description"]) == ("Invalid", "no total")

    only = await call(emu_http, "GET", "/v1/_control/journal", params=[("entity", "orders"), ("kind", "sent"),
                                                                       ("kind", "dead_lettered")])
    assert [e["message_id"] for e in only["entries"]] == ["a", "b", "a"]
    by_id = await call(emu_http, "GET", "/v1/_control/journal", params={"message_id": "a"})
    assert [e["kind"] for e in by_id["entries"]] == ["sent", "delivered", "dead_lettered"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = await call(emu_http, "GET", "/v1/_control/journal", params={"since": future})
    assert later["entries"] == []
    newest = await call(emu_http, "GET", "/v1/_control/journal", params={"after_id": "3", "limit": "1"})
    assert [e["id"] for e in newest["entries"]] == [5]
    bad = await call(emu_http, "GET", "/v1/_control/journal", params={"kind": "teleported"}, status=400)
    assert bad["error"]["code"] == "validation_error" and "teleported" in bad["error"]["message"]
    await call(emu_http, "GET", "/v1/_control/journal", params={"since": "yesterday"}, status=400)
    await call(emu_http, "GET", "/v1/_control/journal", params={"limit": "0"}, status=400)


async def test_follow_streams_entries_as_they_happen(emu_http: Client) -> None:
    await call(emu_http, "PUT", "/v1/queues/live", {}, 201)
    await send(emu_http, "live", "before")
    async with emu_http.get("/v1/_control/journal/follow", params={"entity": "live"}) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("application/x-ndjson")
        backlog = json.loads(await stream.content.readline())
        assert (backlog["kind"], backlog["message_id"]) == ("sent", "before")
        await send(emu_http, "live", "after")
        live = json.loads(await asyncio.wait_for(stream.content.readline(), 5))
        assert (live["kind"], live["message_id"], live["id"]) == ("sent", "after", 2)


async def test_wait_idle_waits_for_a_consumer_and_times_out_naming_the_busy_queue(emu_http: Client) -> None:
    await call(emu_http, "PUT", "/v1/queues/work", {}, 201)
    await send(emu_http, "work", "1", "2")
    busy = await call(emu_http, "POST", "/v1/_control/wait-idle", {"entities": ["work"], "timeout": 0.2})
    assert busy["idle"] is False and busy["busy"] == {"work": ["2 receivable"]}

    async def consume() -> None:
        for _ in range(2):
            await asyncio.sleep(0.05)
            got = await call(emu_http, "POST", "/v1/queues/work/messages/receive", {})
            token = got["messages"][0]["lock_token"]
            await call(emu_http, "POST", f"/v1/queues/work/locks/{token}/complete", {}, 204)

    consumer = asyncio.create_task(consume())
    idle = await call(emu_http, "POST", "/v1/_control/wait-idle", {"entities": ["work"], "timeout": 5, "quiet": 0.05})
    assert idle["idle"] is True and consumer.done()
    await call(emu_http, "POST", "/v1/_control/wait-idle", {"entities": []}, status=400)


async def test_purge_resubmit_and_delete_over_rest(emu_http: Client) -> None:
    await call(emu_http, "PUT", "/v1/queues/fix", {}, 201)
    await send(emu_http, "fix", "x", "y", "z")
    got = await call(emu_http, "POST", "/v1/queues/fix/messages/receive", {"max_messages": 3})
    for m in got["messages"]:
        await call(emu_http, "POST", f"/v1/queues/fix/locks/{m['lock_token']}/dead-letter", {"reason": "R"}, 204)
    dead = await call(emu_http, "POST", "/v1/queues/fix/messages/peek", {"max_messages": 10, "dead_letter": True})
    seqs = [m["sequence_number"] for m in dead["messages"]]
    one = await call(emu_http, "POST", "/v1/queues/fix/dead-letters/resubmit", {"sequence_numbers": [seqs[0]]})
    assert len(one["sequence_numbers"]) == 1
    missing = await call(emu_http, "POST", "/v1/queues/fix/dead-letters/resubmit", {"sequence_numbers": [999]},
                         status=404)
    assert missing["error"]["code"] == "message_not_found"
    await call(emu_http, "DELETE", f"/v1/queues/fix/messages/{seqs[1]}", params={"dead_letter": "true"}, status=204)
    rest = await call(emu_http, "POST", "/v1/queues/fix/dead-letters/resubmit", {})
    assert len(rest["sequence_numbers"]) == 1
    queue = await call(emu_http, "GET", "/v1/queues/fix")
    assert (queue["active_count"], queue["dead_letter_count"]) == (2, 0)
    back = await call(emu_http, "POST", "/v1/queues/fix/messages/peek", {"max_messages": 10})
    assert [(m["message_id"], m["delivery_count"], m["dead_letter_reason"]) for m in back["messages"]] == [
        ("x", 0, None), ("z", 0, None)]
    assert (await call(emu_http, "POST", "/v1/queues/fix/purge", {}))["purged"] == 2
    assert (await call(emu_http, "POST", "/v1/queues/fix/purge", {"dead_letter": True}))["purged"] == 0
    await call(emu_http, "DELETE", "/v1/queues/fix/messages/abc", status=404)  # not a sequence number: no route
    kinds = await call(emu_http, "GET", "/v1/_control/journal", params={"entity": "fix"})
    assert [e["kind"] for e in kinds["entries"]][-5:] == ["resubmitted", "deleted", "resubmitted", "purged", "purged"]


async def test_the_providers_journal_control_is_the_same_on_memory_and_emulator(
    emu_target: Target, emu_queue_name: QueueName
) -> None:
    provider = emu_target.provider
    assert provider.capabilities.journal
    journal = provider.journal
    assert journal is not None
    await provider.create_queue(emu_queue_name, QueueOptions(max_delivery_count=1))
    await provider.send_messages(emu_queue_name, [Message(b"1", message_id="one")])
    [received] = await provider.receive_messages(emu_queue_name, 1, timedelta(seconds=1))
    report = await journal.wait_until_idle([emu_queue_name], timeout=0.1, quiet=0.01)
    assert not report.idle and report.busy == {emu_queue_name: ["1 locked (being processed)"]}
    await provider.abandon(received.receipt_handle)
    report = await journal.wait_until_idle([emu_queue_name], timeout=2, quiet=0.01)
    assert report.idle
    entries = await journal.entries(queues=[emu_queue_name])
    assert [e.kind for e in entries] == [JournalKind.SENT, JournalKind.DELIVERED, JournalKind.ABANDONED,
                                         JournalKind.DEAD_LETTERED]
    assert entries[-1].reason == "MaxDeliveryCountExceeded" and entries[-1].message_id == "one"
    assert [e.kind for e in await journal.entries(queues=[emu_queue_name], kinds=["sent"])] == [JournalKind.SENT]
    assert len(await journal.entries(queues=[emu_queue_name], after_id=entries[1].id)) == 2


@pytest.fixture(scope="module")
def emu_full() -> Any:
    with EmulatorThread(EmulatorSettings(clock="system")) as emulator:
        yield emulator


async def test_amqp_clients_appear_in_the_journal_with_their_connection(emu_full: EmulatorThread) -> None:
    url = emu_full.url
    assert emu_full.amqp_port is not None
    connection = emu_full.settings.servicebus_connection_string(emu_full.amqp_port)
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{url}/v1/queues/amqp-jobs", json={"max_delivery_count": 3}) as created:
            assert created.status == 201
    async with ServiceBusClient.from_connection_string(connection, retry_total=0) as sb:
        async with sb.get_queue_sender("amqp-jobs") as sender:
            await sender.send_messages([ServiceBusMessage("ok", message_id="m-ok"),
                                        ServiceBusMessage("bad", message_id="m-bad")])
    handled: list[str] = []

    async def handler(message: ReceivedMessage) -> None:
        handled.append(message.body.decode())
        if message.body == b"bad":
            raise ValueError("cannot handle 'bad'")

    config = QueueConfig(provider=AzureServiceBusConfig(connection_string=connection, emulator_management_url=url))
    client = await QueueClientFactory.create_client(config)
    async with client, QueueProcessor(client, "amqp-jobs", handler, ProcessorOptions(max_concurrency=1)):
        async with EmulatorControl(url) as control:
            report = await control.journal.wait_until_idle(["amqp-jobs"], timeout=30, quiet=0.2)
            assert report.idle, report.describe()
            entries = await control.journal.entries(queues=["amqp-jobs"])
    kinds = [(e.kind.value, e.message_id) for e in entries]
    assert kinds[:2] == [("sent", "m-ok"), ("sent", "m-bad")]
    assert ("completed", "m-ok") in kinds
    assert [e.delivery_count for e in entries if e.kind is JournalKind.DELIVERED and e.message_id == "m-bad"] == [
        1, 2, 3]
    dead = [e for e in entries if e.kind is JournalKind.DEAD_LETTERED]
    assert [(e.message_id, e.reason) for e in dead] == [("m-bad", "MaxDeliveryCountExceeded")]
    assert all(e.client is not None and e.client.startswith("amqp:127.0.0.1:") for e in entries)
    assert sorted(set(handled)) == ["bad", "ok"]


async def test_journal_size_zero_turns_it_off_and_says_so() -> None:
    settings = EmulatorSettings(admin=False, clock="manual", journal_size=0, amqp=False)
    async with TestClient(TestServer(create_app(settings))) as client:
        await call(client, "PUT", "/v1/queues/quiet", {}, 201)
        await send(client, "quiet", "x")
        answer = await call(client, "GET", "/v1/_control/journal")
        assert (answer["entries"], answer["size"], answer["recorded"]) == ([], 0, 0)
        assert (await call(client, "GET", "/v1/info"))["journal_size"] == 0
        provider = await EmulatorProvider.connect(EmulatorConfig(url=str(client.make_url("/")).rstrip("/")))
        try:
            assert provider.capabilities.journal is False and provider.journal is None
        finally:
            await provider.aclose()
