"""The REST server through real HTTP on loopback: long polls, concurrency, sessions, control API, bad input."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from queue_emulator.app import create_app
from queue_emulator.rest.keys import WAITER
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    data = body if isinstance(body, bytes | str) else (json.dumps(body) if body is not None else None)
    headers = {"Content-Type": "application/json"} if data is not None else None
    response = await client.request(method, path, data=data, headers=headers)
    text = await response.text()
    assert response.status == status, f"{method} {path}: {response.status} {text}"
    return json.loads(text) if text else None


async def error_code(client: Client, method: str, path: str, body: Any, status: int) -> str:
    answer = await call(client, method, path, body, status)
    assert set(answer["error"]) >= {"code", "message", "details"}
    return str(answer["error"]["code"])


async def send(client: Client, queue: str, *bodies: bytes, **fields: Any) -> list[int]:
    answer = await call(client, "POST", f"/v1/queues/{queue}/messages",
                        {"messages": [{"body": b64(b), **fields} for b in bodies]})
    return list(answer["sequence_numbers"])


async def receive(client: Client, queue: str, count: int = 1, timeout: float = 0, **extra: Any) -> list[Any]:
    answer = await call(client, "POST", f"/v1/queues/{queue}/messages/receive",
                        {"max_messages": count, "timeout": timeout, **extra})
    return list(answer["messages"])


async def waiting_receivers(client: Client) -> int:
    return sum(len(f) for f in client.server.app[WAITER]._waiting.values())  # type: ignore[union-attr]


async def until_waiting(client: Client, count: int = 1) -> None:
    for _ in range(1000):
        if await waiting_receivers(client) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError("the long poll never started waiting")


@pytest_asyncio.fixture
async def http(emu_http: Client) -> Client:
    await call(emu_http, "PUT", "/v1/queues/q", {"lock_duration": 10}, status=201)
    return emu_http


@pytest.mark.asyncio
async def test_service_endpoints_and_dashboard(http: Client) -> None:
    health = await call(http, "GET", "/health")
    assert health["status"] == "ok" and health["fronts"]["rest"]["status"] == "ok"
    info = await call(http, "GET", "/v1/info")
    assert info["clock"] == "manual" and info["max_batch_size"] >= 100
    page = await http.get("/")
    assert page.status == 200 and "queue-emulator" in await page.text()
    await send(http, "q", b"x")
    [m] = await receive(http, "q")
    await call(http, "POST", f"/v1/queues/q/locks/{m['lock_token']}/dead-letter", {"reason": "why"}, 204)
    overview = await call(http, "GET", "/v1/_control/overview")
    [queue] = overview["queues"]
    assert queue["properties"]["dead_letter_count"] == 1 and queue["dead_letters"][0]["reason"] == "why"
    listed = await call(http, "GET", "/v1/queues")
    assert [q["name"] for q in listed["queues"]] == ["q"]


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_a_message_arrives(http: Client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(receive(http, "q", 5, timeout=30))
    await until_waiting(http)
    assert not poll.done()
    await send(http, "q", b"wake")
    [message] = await asyncio.wait_for(poll, 5)
    assert base64.b64decode(message["body"]) == b"wake"
    assert loop.time() - started < 5


@pytest.mark.asyncio
async def test_long_poll_wakes_when_the_manual_clock_makes_a_message_due(http: Client) -> None:
    now = datetime.fromisoformat((await call(http, "GET", "/v1/_control/clock"))["now"])
    at = (now + timedelta(seconds=60)).isoformat()
    await call(http, "POST", "/v1/queues/q/messages/schedule", {"messages": [{"body": b64(b"later")}], "at": at})
    assert await receive(http, "q") == []
    poll = asyncio.create_task(receive(http, "q", 1, timeout=30))
    await until_waiting(http)
    await call(http, "POST", "/v1/_control/clock/advance", {"seconds": 61})
    [message] = await asyncio.wait_for(poll, 5)
    assert base64.b64decode(message["body"]) == b"later"


@pytest.mark.asyncio
async def test_concurrent_receivers_never_get_the_same_message(http: Client) -> None:
    for start in range(0, 300, 100):
        await send(http, "q", *(str(i).encode() for i in range(start, start + 100)))
    seen: list[int] = []

    async def receiver() -> None:
        while True:
            got = await receive(http, "q", 7)
            if not got:
                return
            seen.extend(m["sequence_number"] for m in got)

    await asyncio.gather(*(receiver() for _ in range(10)))
    assert sorted(seen) == list(range(1, 301))


@pytest.mark.asyncio
async def test_session_exclusivity_across_two_clients(http: Client) -> None:
    await call(http, "PUT", "/v1/queues/s", {"requires_session": True}, 201)
    await send(http, "s", b"a", session_id="a")
    await send(http, "s", b"b", session_id="b")
    async with aiohttp.ClientSession(str(http.make_url(""))) as one, aiohttp.ClientSession(
        str(http.make_url(""))
    ) as two:
        first = await (await one.post("/v1/queues/s/sessions/accept", json={"session_id": "a"})).json()
        refused = await two.post("/v1/queues/s/sessions/accept", json={"session_id": "a"})
        assert refused.status == 409 and (await refused.json())["error"]["code"] == "session_cannot_be_locked"
        nxt = await (await two.post("/v1/queues/s/sessions/accept", json={"timeout": 0})).json()
        assert nxt["session"]["session_id"] == "b"
        none = await (await one.post("/v1/queues/s/sessions/accept", json={"timeout": 0})).json()
        assert none == {"session": None}
        token = first["session"]["session_token"]
        theirs = nxt["session"]["session_token"]
        wrong = await two.post("/v1/queues/s/sessions/a/receive", json={"session_token": theirs})
        assert wrong.status == 410 and (await wrong.json())["error"]["code"] == "session_lock_lost"
        mine = await (await one.post("/v1/queues/s/sessions/a/receive", json={"session_token": token})).json()
        assert [base64.b64decode(m["body"]) for m in mine["messages"]] == [b"a"]
        put = await one.put("/v1/queues/s/sessions/a/state", json={"session_token": token, "state": b64(b"\x01")})
        assert put.status == 204
        state = await (await one.get("/v1/queues/s/sessions/a/state", params={"session_token": token})).json()
        assert state == {"state": b64(b"\x01")}
        sessions = await (await one.get("/v1/queues/s/sessions")).json()
        assert {s["session_id"]: s["locked"] for s in sessions["sessions"]} == {"a": True, "b": True}
        assert (await one.post("/v1/queues/s/sessions/a/release", json={"session_token": token})).status == 204
        again = await two.post("/v1/queues/s/sessions/accept", json={"session_id": "a"})
        assert again.status == 200


@pytest.mark.asyncio
async def test_clock_control(http: Client) -> None:
    before = await call(http, "GET", "/v1/_control/clock")
    assert before["manual"] is True
    await send(http, "q", b"x")
    [m] = await receive(http, "q")
    after = await call(http, "POST", "/v1/_control/clock/advance", {"seconds": 11})
    assert after["now"] > before["now"]
    assert await error_code(http, "POST", f"/v1/queues/q/locks/{m['lock_token']}/complete", {}, 410) == (
        "message_lock_lost"
    )
    [again] = await receive(http, "q")
    assert again["delivery_count"] == 2
    assert await error_code(http, "POST", "/v1/_control/clock/advance", {"seconds": -1}, 400) == "validation_error"


@pytest.mark.asyncio
async def test_system_clock_refuses_to_advance() -> None:
    async with TestClient(TestServer(create_app(EmulatorSettings(admin=False, amqp_port=0)))) as client:
        assert (await call(client, "GET", "/v1/_control/clock"))["manual"] is False
        code = await error_code(client, "POST", "/v1/_control/clock/advance", {"seconds": 1}, 400)
        assert code == "unsupported_operation"


@pytest.mark.asyncio
async def test_fault_injection_errors_latency_and_lost_locks(http: Client) -> None:
    faults = await call(http, "POST", "/v1/_control/faults",
                        {"operation": "send", "error": "service_unavailable", "count": 2, "queue": "q"}, 201)
    assert faults["faults"][0]["remaining"] == 2
    for _ in range(2):
        answer = await call(http, "POST", "/v1/queues/q/messages", {"messages": [{"body": b64(b"x")}]}, 503)
        assert answer["error"]["code"] == "service_unavailable" and answer["error"]["transient"] is True
    await send(http, "q", b"x")
    await call(http, "POST", "/v1/_control/faults", {"operation": "peek", "error": "none", "latency": 0.05}, 201)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await call(http, "POST", "/v1/queues/q/messages/peek", {})
    assert loop.time() - started >= 0.05
    await call(http, "POST", "/v1/_control/faults", {"operation": "receive", "error": "throttled"}, 201)
    assert await error_code(http, "POST", "/v1/queues/q/messages/receive", {}, 429) == "throttled"
    [m] = await receive(http, "q")
    await call(http, "POST", "/v1/_control/faults/lose-lock", {"lock_token": m["lock_token"]}, 204)
    code = await error_code(http, "POST", f"/v1/queues/q/locks/{m['lock_token']}/complete", {}, 410)
    assert code == "message_lock_lost"
    [back] = await receive(http, "q")
    assert back["sequence_number"] == m["sequence_number"] and back["delivery_count"] == 2
    assert await error_code(http, "POST", "/v1/_control/faults", {"operation": "nope"}, 400) == "validation_error"
    assert await error_code(http, "POST", "/v1/_control/faults", {"operation": "send", "error": "bogus"}, 400) == (
        "validation_error"
    )
    await call(http, "POST", "/v1/_control/faults", {"operation": "send", "count": 5}, 201)
    await call(http, "DELETE", "/v1/_control/faults", None, 204)
    assert (await call(http, "GET", "/v1/_control/faults"))["faults"] == []
    stats = await call(http, "GET", "/v1/_control/stats")
    assert stats["faults_injected"] == 5 and stats["errors"]["service_unavailable"] == 2
    assert stats["requests"]["send"] == 3 and stats["messages"] == 1


@pytest.mark.asyncio
async def test_reset_forgets_everything(http: Client) -> None:
    await send(http, "q", b"x")
    await call(http, "POST", "/v1/_control/faults", {"operation": "send"}, 201)
    await call(http, "POST", "/v1/_control/reset", None, 204)
    assert (await call(http, "GET", "/v1/queues"))["queues"] == []
    assert (await call(http, "GET", "/v1/_control/faults"))["faults"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/queues/q/messages", "{not json", 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", "[]", 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", {"messages": "x"}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", {"messages": []}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", {"messages": [{"body": "%%%"}]}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", {"messages": [{"body": 5}]}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages", {"messages": [{"body": "", "extra": 1}]}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"max_messages": "many"}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"max_messages": 0}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"timeout": -1}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"timeout": "NaN"}, 400, "validation_error"),
        ("POST", "/v1/queues/nope/messages", {"messages": [{"body": ""}]}, 404, "queue_not_found"),
        ("POST", "/v1/queues/nope/messages/receive", {}, 404, "queue_not_found"),
        ("GET", "/v1/queues/nope", None, 404, "queue_not_found"),
        ("DELETE", "/v1/queues/nope", None, 404, "queue_not_found"),
        ("PUT", "/v1/queues/q", {}, 409, "queue_already_exists"),
        ("PUT", "/v1/queues/bad%25name", {}, 400, "validation_error"),
        ("PUT", "/v1/queues/-bad", {}, 400, "validation_error"),
        ("PUT", "/v1/queues/" + "x" * 261, {}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"lock_duration": 0}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"max_delivery_count": "ten"}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"unknown_option": 1}, 400, "validation_error"),
        ("POST", "/v1/queues/q/locks/not-a-token/complete", {}, 410, "message_lock_lost"),
        ("POST", "/v1/queues/q/locks/not-a-token/renew", {}, 410, "message_lock_lost"),
        ("POST", "/v1/queues/q/locks/complete", {"lock_tokens": []}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/deferred", {"sequence_numbers": [99]}, 404, "message_not_found"),
        ("POST", "/v1/queues/q/messages/schedule", {"messages": [{"body": ""}], "at": "2030-01-01T00:00:00"},
         400, "validation_error"),
        ("POST", "/v1/queues/q/sessions/accept", {}, 409, "session_required"),
        # strict types (issue 18): no string for a number, no boolean for a duration, no string for a flag
        ("POST", "/v1/queues/q/messages", {"messages": [{"body": "", "time_to_live": "60"}]}, 400,
         "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"timeout": "1"}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"timeout": True}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"max_messages": True}, 400, "validation_error"),
        ("POST", "/v1/queues/q/messages/receive", {"max_messages": 2.5}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"requires_session": "yes"}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"requires_session": 1}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"lock_duration": "PT30S"}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"lock_duration": 301}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"max_size_bytes": "1000"}, 400, "validation_error"),
        ("PUT", "/v1/queues/new", {"default_message_ttl": False}, 400, "validation_error"),
        ("POST", "/v1/_control/faults", {"operation": "send", "latency": 1e9}, 400, "validation_error"),
        ("POST", "/v1/_control/faults", {"operation": "send", "latency": 61}, 400, "validation_error"),
        ("POST", "/v1/_control/faults", {"operation": "send", "count": "2"}, 400, "validation_error"),
        ("POST", "/v1/_control/clock/advance", {"seconds": "5"}, 400, "validation_error"),
        ("GET", "/v1/queues/q/sessions/s/state", None, 400, "validation_error"),  # no session_token
        ("GET", "/v1/queues/q/sessions/s/state?session_token=nope", None, 410, "session_lock_lost"),
        ("GET", "/v1/no-such-thing", None, 404, "unsupported_operation"),
        ("POST", "/v1/queues/q", {}, 405, "unsupported_operation"),
    ],
)
@pytest.mark.asyncio
async def test_bad_input_gets_a_structured_4xx_and_loses_nothing(
    http: Client, method: str, path: str, body: Any, status: int, code: str
) -> None:
    await send(http, "q", b"keep me")
    assert await error_code(http, method, path, body, status) == code
    queue = await call(http, "GET", "/v1/queues/q")
    assert queue["active_count"] == 1


@pytest.mark.asyncio
async def test_oversize_body_and_oversize_message() -> None:
    settings = EmulatorSettings(admin=False, max_request_size=4096, max_message_size=100, max_batch_size=3, amqp_port=0)
    async with TestClient(TestServer(create_app(settings))) as client:
        await call(client, "PUT", "/v1/queues/q", None, 201)
        huge = {"messages": [{"body": b64(b"x" * 5000)}]}
        assert await error_code(client, "POST", "/v1/queues/q/messages", huge, 413) == "message_too_large"
        big = {"messages": [{"body": b64(b"x" * 101)}]}
        assert await error_code(client, "POST", "/v1/queues/q/messages", big, 413) == "message_too_large"
        many = {"messages": [{"body": ""}] * 4}
        assert await error_code(client, "POST", "/v1/queues/q/messages", many, 413) == "batch_too_large"
        assert (await call(client, "GET", "/v1/queues/q"))["active_count"] == 0
        await send(client, "q", b"fine")
        assert (await call(client, "GET", "/v1/queues/q"))["active_count"] == 1


@pytest.mark.asyncio
async def test_auto_create_and_entity_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "entities.yaml"
    yaml_file.write_text(
        "queues:\n  - name: orders\n    requires_session: true\n    lock_duration: 60\n"
        "  - name: audit\n    default_message_ttl: PT1H\n    max_delivery_count: 3\n"
    )
    settings = EmulatorSettings(admin=False, entity_file=yaml_file, auto_create=True, amqp_port=0)
    async with TestClient(TestServer(create_app(settings))) as client:
        orders = await call(client, "GET", "/v1/queues/orders")
        assert orders["options"]["requires_session"] is True and orders["options"]["lock_duration"] == 60
        assert (await call(client, "GET", "/v1/queues/audit"))["options"]["max_delivery_count"] == 3
        await send(client, "fresh", b"x")
        assert (await call(client, "GET", "/v1/queues/fresh"))["active_count"] == 1
        await call(client, "POST", "/v1/_control/reset", None, 204)
        names = [q["name"] for q in (await call(client, "GET", "/v1/queues"))["queues"]]
        assert names == ["audit", "orders"]
    json_file = tmp_path / "entities.json"
    json_file.write_text(json.dumps({"queues": {"a": {"max_size_bytes": 10}}}))
    settings = EmulatorSettings(admin=False, entity_file=json_file, amqp_port=0)
    async with TestClient(TestServer(create_app(settings))) as client:
        assert await error_code(client, "POST", "/v1/queues/a/messages",
                                {"messages": [{"body": b64(b"x" * 11)}]}, 403) == "quota_exceeded"


def test_bad_entity_file_is_a_configuration_error(tmp_path: Path) -> None:
    from queue_runtime.errors import ConfigurationError

    bad = tmp_path / "bad.yaml"
    for text in ("queues: 5", "queues:\n  - lock_duration: 1", "queues:\n  bad name: {}", "queues: {q: {x: 1}}",
                 "[unclosed"):
        bad.write_text(text)
        with pytest.raises(ConfigurationError):
            create_app(EmulatorSettings(admin=False, entity_file=bad))


@pytest.mark.asyncio
async def test_graceful_shutdown_returns_long_polls_empty() -> None:
    emulator = EmulatorThread(EmulatorSettings()).start()
    try:
        async with aiohttp.ClientSession(emulator.url) as session:
            assert (await session.put("/v1/queues/q")).status == 201
            poll = asyncio.ensure_future(session.post("/v1/queues/q/messages/receive", json={"timeout": 60}))
            for _ in range(500):
                if emulator.broker._listeners and poll_waiting(emulator):
                    break
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            stopping = loop.run_in_executor(None, emulator.stop)
            response = await asyncio.wait_for(poll, 10)
            assert response.status == 200 and await response.json() == {"messages": []}
            await stopping
    finally:
        emulator.stop()


def poll_waiting(emulator: EmulatorThread) -> bool:
    listener = emulator.broker._listeners[0]
    waiter = getattr(listener, "__self__", None)
    return bool(waiter is not None and waiter._waiting)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("queues:\n  q: {}\n  q: {}\n", "line 3: 'q' is declared twice"),
        ("queues:\n  - name: q\n  - name: q\n", "queue 'q' is declared twice"),
        ("queues:\n  q: {lock_duration: 0}\n", "queue 'q': lock_duration: "),
        ("queues: [unclosed", "is not valid YAML: line 1, column 18: expected ',' or ']'"),
    ],
)
def test_entity_file_errors_speak_plainly(tmp_path: Path, text: str, expected: str) -> None:
    from queue_runtime.errors import ConfigurationError

    bad = tmp_path / "entities.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        create_app(EmulatorSettings(admin=False, entity_file=bad))
    assert expected in info.value.message, info.value.message
    assert "Value error" not in info.value.message and "<unicode string>" not in info.value.message


def test_duplicate_names_in_a_json_entity_file_are_an_error(tmp_path: Path) -> None:
    from queue_runtime.errors import ConfigurationError

    bad = tmp_path / "entities.json"
    bad.write_text('{"queues": {"q": {}, "q": {"requires_session": true}}}')
    with pytest.raises(ConfigurationError, match="'q' is declared twice"):
        create_app(EmulatorSettings(admin=False, entity_file=bad))


@pytest.mark.asyncio
async def test_rest_validation_errors_speak_plainly(emu_http: Any) -> None:
    answer = await emu_http.put("/v1/queues/new", json={"lock_duration": 0})
    error = (await answer.json())["error"]
    assert answer.status == 400 and "Value error" not in error["message"], error
    assert "lock_duration" in error["message"]


@pytest.mark.asyncio
async def test_the_overview_says_how_many_dead_letters_it_does_not_list(http: Client) -> None:
    # The dashboard pages through peek (tests/emulator/test_dashboard_browser.py); the overview's short list says
    # how many it leaves out, for scripts that read it.
    for i in range(25):
        await send(http, "q", f"m-{i}".encode())
    for m in await receive(http, "q", 25):
        await call(http, "POST", f"/v1/queues/q/locks/{m['lock_token']}/dead-letter", {"reason": "why"}, 204)
    [queue] = (await call(http, "GET", "/v1/_control/overview"))["queues"]
    assert len(queue["dead_letters"]) == 20 and queue["dead_letters_total"] == 25
@pytest.mark.asyncio
async def test_405_names_the_allowed_methods(http: Client) -> None:
    response = await http.request("POST", "/v1/queues/q", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"DELETE", "GET", "PATCH", "PUT"}


@pytest.mark.asyncio
async def test_integral_numbers_count_as_integers_and_whole_seconds_as_durations(http: Client) -> None:
    options = {"lock_duration": 45, "max_delivery_count": 3.0, "requires_session": False}
    await call(http, "PUT", "/v1/queues/q2", options, status=201)
    props = await call(http, "GET", "/v1/queues/q2")
    assert (props["options"]["lock_duration"], props["options"]["max_delivery_count"]) == (45.0, 3)


@pytest.mark.asyncio
async def test_a_boolean_query_parameter_is_true_or_false_once(http: Client) -> None:
    [seq] = (await call(http, "POST", "/v1/queues/q/messages",
                        {"messages": [{"body": "eA=="}]}))["sequence_numbers"]
    for query in ("dead_letter=yes", "dead_letter=1", "dead_letter=false&dead_letter=false", "dead_letter=null"):
        assert await error_code(http, "DELETE", f"/v1/queues/q/messages/{seq}?{query}", None, 400) == \
            "validation_error"
    await call(http, "DELETE", f"/v1/queues/q/messages/{seq}?dead_letter=false", status=204)


@pytest.mark.asyncio
async def test_deleting_a_message_a_receiver_holds_is_a_conflict(http: Client) -> None:
    await call(http, "POST", "/v1/queues/q/messages", {"messages": [{"body": "eA=="}]})
    [held] = (await call(http, "POST", "/v1/queues/q/messages/receive", {}))["messages"]
    seq = held["sequence_number"]
    assert await error_code(http, "DELETE", f"/v1/queues/q/messages/{seq}", None, 409) == "message_locked"
    await call(http, "POST", f"/v1/queues/q/locks/{held['lock_token']}/abandon", {}, status=204)
    await call(http, "DELETE", f"/v1/queues/q/messages/{seq}", status=204)
