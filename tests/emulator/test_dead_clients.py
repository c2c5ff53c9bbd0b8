"""A client that goes away during a long poll gets nothing, and nothing is lost or locked to it: a killed process
and a cancelled request, for receives (peek-lock and receive-and-delete) and session accepts.

Against the server exactly as the CLI starts it (``start_server``): aiohttp's own test server cancels handlers of
lost connections, the production runner did not, and the difference is the bug."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from queue_emulator.rest.keys import BROKER, WAITER
from queue_emulator.server import RunningServer, start_server
from queue_emulator.settings import EmulatorSettings


@dataclass
class Client:
    """The running server and one HTTP client session to it."""

    server: RunningServer
    session: aiohttp.ClientSession

    @property
    def app(self) -> aiohttp.web.Application:
        return self.server.runner.app

    def url(self, path: str) -> str:
        return self.server.url + path

    async def request(self, method: str, path: str, json: Any = None) -> aiohttp.ClientResponse:
        return await self.session.request(method, self.url(path), json=json)

_CLIENT = """
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], json.dumps(json.loads(sys.argv[2])).encode(),
                                 {"Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=60).read()
"""


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.request(method, path, json=body)
    answer = await response.json() if response.status != 204 else None
    assert response.status == status, f"{method} {path}: {response.status} {answer}"
    return answer


async def until_waiting(client: Client, count: int = 1) -> None:
    waiter = client.app[WAITER]
    for _ in range(2000):
        if sum(len(f) for f in waiter._waiting.values()) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the long poll never started waiting")


@pytest_asyncio.fixture
async def http() -> AsyncIterator[Client]:
    server = await start_server(EmulatorSettings(admin=False, clock="manual", amqp=False), port=0)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(server, session)
            await call(client, "PUT", "/v1/queues/q", {"lock_duration": 60}, status=201)
            await call(client, "PUT", "/v1/queues/s", {"lock_duration": 60, "requires_session": True}, status=201)
            yield client
    finally:
        await server.stop()


async def _send(client: Client, queue: str, count: int, **fields: Any) -> None:
    messages = [{"body": base64.b64encode(f"m{i}".encode()).decode(), **fields} for i in range(count)]
    await call(client, "POST", f"/v1/queues/{queue}/messages", {"messages": messages})


async def _kill_a_waiting_client(http: Client, path: str, body: dict[str, Any]) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", _CLIENT, http.url(path), json.dumps(body))
    try:
        await until_waiting(http)
    finally:
        process.kill()
        await process.wait()
    await asyncio.sleep(0.2)  # the kernel closed the socket; give the server a moment to read the end of it


async def _cancel_a_waiting_request(http: Client, path: str, body: dict[str, Any]) -> None:
    task = asyncio.create_task(http.request("POST", path, json=body))
    await until_waiting(http)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)


@pytest.mark.parametrize("goes_away", ["killed", "cancelled"])
@pytest.mark.parametrize("delete", [False, True])
@pytest.mark.asyncio
async def test_a_receive_whose_client_went_away_takes_nothing(http: Client, goes_away: str, delete: bool) -> None:
    body = {"max_messages": 10, "timeout": 30, "receive_and_delete": delete}
    if goes_away == "killed":
        await _kill_a_waiting_client(http, "/v1/queues/q/messages/receive", body)
    else:
        await _cancel_a_waiting_request(http, "/v1/queues/q/messages/receive", body)
    await _send(http, "q", 3)
    await asyncio.sleep(0.05)  # the dead request's long poll wakes (and must not take anything)
    props = await call(http, "GET", "/v1/queues/q")
    assert (props["active_count"], props["locked_count"]) == (3, 0)
    got = await call(http, "POST", "/v1/queues/q/messages/receive", {"max_messages": 10})
    assert [m["delivery_count"] for m in got["messages"]] == [1, 1, 1]


@pytest.mark.parametrize("goes_away", ["killed", "cancelled"])
@pytest.mark.asyncio
async def test_a_session_accept_whose_client_went_away_locks_nothing(http: Client, goes_away: str) -> None:
    body = {"timeout": 30}
    if goes_away == "killed":
        await _kill_a_waiting_client(http, "/v1/queues/s/sessions/accept", body)
    else:
        await _cancel_a_waiting_request(http, "/v1/queues/s/sessions/accept", body)
    await _send(http, "s", 1, session_id="a")
    await asyncio.sleep(0.05)
    answer = await call(http, "POST", "/v1/queues/s/sessions/accept", {"timeout": 0})
    assert answer["session"] is not None and answer["session"]["session_id"] == "a"


@pytest.mark.asyncio
async def test_messages_taken_for_a_client_that_is_gone_are_returned_at_once(http: Client) -> None:
    """The last moment: the messages were taken, then writing the answer fails. The engine gets them back."""
    broker = http.app[BROKER]
    await _send(http, "q", 2)
    host = f"127.0.0.1:{http.server.port}"
    _reader, writer = await asyncio.open_connection("127.0.0.1", http.server.port)
    payload = json.dumps({"max_messages": 10, "timeout": 30}).encode()
    writer.write(b"POST /v1/queues/q/messages/receive HTTP/1.1\r\nHost: " + host.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(payload)).encode()
                 + b"\r\n\r\n" + payload)
    writer.close()  # gone before the answer can be written
    await writer.wait_closed()
    await asyncio.sleep(0.2)
    props = broker.get_queue("q")
    assert (props.active_count, props.locked_count) == (2, 0)
    got = await call(http, "POST", "/v1/queues/q/messages/receive", {"max_messages": 10})
    assert [m["delivery_count"] for m in got["messages"]] == [1, 1]
