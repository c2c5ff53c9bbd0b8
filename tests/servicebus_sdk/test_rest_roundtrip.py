"""One engine, two fronts: a message sent over AMQP reads back over REST with its body and properties, and back."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from queue_emulator.app import create_app
from queue_emulator.settings import EmulatorSettings

from .conftest import Emulator


@pytest.fixture
def rest_url(emulator: Emulator) -> Iterator[str]:
    async def start() -> tuple[web.AppRunner, int]:
        # The REST front only: the emulator fixture already serves AMQP (a second front would take port 5672).
        runner = web.AppRunner(create_app(EmulatorSettings(admin=False, amqp=False), broker=emulator.broker))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        return runner, server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    import asyncio

    runner, port = asyncio.run_coroutine_threadsafe(start(), emulator.loop).result(10)
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), emulator.loop).result(10)


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def test_amqp_to_rest_and_back(emulator: Emulator, rest_url: str) -> None:
    queue = emulator.queue()
    sb = ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0)
    with sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(
                b"\x00binary\xff", message_id="amqp-1", correlation_id="corr", content_type="application/octet-stream",
                subject="subj", reply_to="back", application_properties={"s": "text", "i": 42, "b": True},
            ))
        got = post(f"{rest_url}/v1/queues/{queue}/messages/receive", {"max_messages": 1, "receive_and_delete": True})
        (message,) = got["messages"]
        assert base64.b64decode(message["body"]) == b"\x00binary\xff"
        assert (message["message_id"], message["correlation_id"], message["content_type"], message["subject"],
                message["reply_to"]) == ("amqp-1", "corr", "application/octet-stream", "subj", "back")
        assert message["application_properties"] == {"s": "text", "i": 42, "b": True}

        post(f"{rest_url}/v1/queues/{queue}/messages", {"messages": [{
            "body": base64.b64encode(b"from rest").decode(), "message_id": "rest-1", "subject": "hello",
            "application_properties": {"n": 1.5, "who": "rest"},
        }]})
        with sb.get_queue_receiver(queue, max_wait_time=1) as receiver:
            (back,) = receiver.receive_messages(max_wait_time=1)
            assert b"".join(back.body) == b"from rest"
            assert back.message_id == "rest-1" and back.subject == "hello"
            assert back.application_properties == {b"n": 1.5, b"who": b"rest"}
            receiver.complete_message(back)
