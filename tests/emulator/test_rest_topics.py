"""Topics, subscriptions and rules over the REST front, through real HTTP on loopback."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

pytestmark = pytest.mark.asyncio

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]

T = "/v1/topics/orders"
S = T + "/subscriptions"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def call(client: Client, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = await client.request(method, path, json=body)
    text = await response.text()
    assert response.status == status, f"{method} {path}: {response.status} {text}"
    return json.loads(text) if text else None


async def error(client: Client, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
    answer = await call(client, method, path, body, status)
    assert set(answer["error"]) >= {"code", "message", "details"}
    return dict(answer["error"])


async def test_topic_subscription_rule_lifecycle(emu_http: Client) -> None:
    created = await call(emu_http, "PUT", T, {"duplicate_detection_window": 60}, 201)
    assert created["name"] == "orders" and created["options"]["duplicate_detection_window"] == 60
    await call(emu_http, "PUT", S + "/all", {}, 201)
    red = {"rule": {"name": "red", "filter": {"kind": "sql", "expression": "color = 'red'"}}}
    await call(emu_http, "PUT", S + "/red", {"max_delivery_count": 3, **red}, 201)
    sent = await call(emu_http, "POST", T + "/messages", {"messages": [
        {"body": b64(b"r"), "application_properties": {"color": "red"}},
        {"body": b64(b"b"), "application_properties": {"color": "blue"}},
    ]})
    assert sent["sequence_numbers"] == [1, 2]
    listed = await call(emu_http, "GET", S)
    depths = {s["name"]: s["active_count"] for s in listed["subscriptions"]}
    assert depths == {"all": 2, "red": 1}
    got = await call(emu_http, "POST", S + "/red/messages/receive", {"max_messages": 5, "timeout": 0})
    assert [base64.b64decode(m["body"]) for m in got["messages"]] == [b"r"]
    token = got["messages"][0]["lock_token"]
    await call(emu_http, "POST", f"{S}/red/locks/{token}/dead-letter", {"reason": "nope"}, 204)
    dead = await call(emu_http, "POST", S + "/red/messages/peek", {"max_messages": 5, "dead_letter": True})
    assert [m["dead_letter_reason"] for m in dead["messages"]] == ["nope"]
    # rules: list, replace, add, delete
    rules = await call(emu_http, "GET", S + "/all/rules")
    assert [(r["name"], r["filter"]["kind"]) for r in rules["rules"]] == [("$Default", "true")]
    await call(emu_http, "PATCH", S + "/all/rules/$Default",
               {"filter": {"kind": "correlation", "properties": {"color": "blue"}}})
    await call(emu_http, "PUT", S + "/all/rules/tag",
               {"filter": {"kind": "false"}, "action": {"expression": "SET x = 1"}}, 201)
    assert len((await call(emu_http, "GET", S + "/all/rules"))["rules"]) == 2
    await call(emu_http, "DELETE", S + "/all/rules/tag", None, 204)
    patched = await call(emu_http, "PATCH", S + "/all", {"max_delivery_count": 7})
    assert patched["options"]["max_delivery_count"] == 7 and patched["rule_count"] == 1
    topic = await call(emu_http, "GET", T)
    assert topic["subscription_count"] == 2
    assert [t["name"] for t in (await call(emu_http, "GET", "/v1/topics"))["topics"]] == ["orders"]
    await call(emu_http, "DELETE", S + "/red", None, 204)
    await call(emu_http, "DELETE", T, None, 204)
    await error(emu_http, "GET", T, None, 404)


async def test_bad_input_is_a_structured_4xx(emu_http: Client) -> None:
    await call(emu_http, "PUT", T, {}, 201)
    await call(emu_http, "PUT", S + "/s", {}, 201)
    await call(emu_http, "POST", T + "/messages", {"messages": [{"body": b64(b"kept")}]})
    bad = await error(emu_http, "PUT", S + "/s/rules/bad", {"filter": {"kind": "sql", "expression": "a = = 1"}}, 400)
    assert bad["code"] in {"validation_error", "invalid_filter"} and bad["message"]
    assert (await error(emu_http, "PUT", T + "/subscriptions/missing/rules/r", {}, 404))["code"] == (
        "subscription_not_found"
    )
    assert (await error(emu_http, "GET", "/v1/topics/nope/subscriptions", None, 404))["code"] == "topic_not_found"
    assert (await error(emu_http, "PUT", S + "/s", {}, 409))["code"] == "subscription_already_exists"
    assert (await error(emu_http, "PUT", S + "/s/rules/$Default", {}, 409))["code"] == "rule_already_exists"
    assert (await error(emu_http, "DELETE", S + "/s/rules/nope", None, 404))["code"] == "rule_not_found"
    assert (await error(emu_http, "PUT", S + "/f", {"forward_to": "nowhere"}, 404))["code"] == "queue_not_found"
    assert (await error(emu_http, "PUT", S + "/a%5Cb", {}, 400))["code"] == "validation_error"
    # a topic holds no messages: the queue route on its name says so
    assert (await error(emu_http, "POST", "/v1/queues/orders/messages/receive", {"timeout": 0}, 400))["code"] == (
        "unsupported_operation"
    )
    assert (await error(emu_http, "PUT", S + "/x", {"rule": {"filter": {"kind": "nope"}}}, 400))["code"] == (
        "validation_error"
    )
    assert (await error(emu_http, "PUT", "/v1/queues/orders", {}, 409))["code"] == "queue_already_exists"
    # nothing already published was lost
    got = await call(emu_http, "POST", S + "/s/messages/receive", {"max_messages": 5, "timeout": 0})
    assert [base64.b64decode(m["body"]) for m in got["messages"]] == [b"kept"]


async def test_forwarding_from_a_queue_set_by_patch(emu_http: Client) -> None:
    await call(emu_http, "PUT", "/v1/queues/sink", {}, 201)
    await call(emu_http, "PUT", "/v1/queues/in", {}, 201)
    await error(emu_http, "PATCH", "/v1/queues/in", {"forward_to": "missing"}, 404)
    await call(emu_http, "PATCH", "/v1/queues/in", {"forward_to": "sink"})
    await call(emu_http, "POST", "/v1/queues/in/messages", {"messages": [{"body": b64(b"m"), "message_id": "id"}]})
    got = await call(emu_http, "POST", "/v1/queues/sink/messages/receive", {"max_messages": 5, "timeout": 0})
    assert [m["message_id"] for m in got["messages"]] == ["id"]


async def test_sessions_on_a_subscription(emu_http: Client) -> None:
    await call(emu_http, "PUT", T, {}, 201)
    await call(emu_http, "PUT", S + "/s", {"requires_session": True}, 201)
    await call(emu_http, "POST", T + "/messages", {"messages": [{"body": b64(b"1"), "session_id": "a"}]})
    lease = (await call(emu_http, "POST", S + "/s/sessions/accept", {"timeout": 0}))["session"]
    assert lease["session_id"] == "a"
    got = await call(emu_http, "POST", S + "/s/sessions/a/receive",
                     {"session_token": lease["session_token"], "max_messages": 5, "timeout": 0})
    assert len(got["messages"]) == 1
    sessions = await call(emu_http, "GET", S + "/s/sessions")
    assert [s["session_id"] for s in sessions["sessions"]] == ["a"]


async def test_overview_and_dashboard_show_topics(emu_http: Client) -> None:
    await call(emu_http, "PUT", T, {}, 201)
    await call(emu_http, "PUT", S + "/s", {"rule": {"name": "red", "filter": {"kind": "correlation",
                                                                            "subject": "red"}}}, 201)
    await call(emu_http, "POST", T + "/messages", {"messages": [{"body": b64(b"1"), "subject": "red"}]})
    overview = await call(emu_http, "GET", "/v1/_control/overview")
    [topic] = overview["topics"]
    [sub] = topic["subscriptions"]
    assert topic["properties"]["name"] == "orders"
    assert (sub["properties"]["name"], sub["properties"]["active_count"]) == ("s", 1)
    assert [(r["name"], r["filter"]["kind"]) for r in sub["rules"]] == [("red", "correlation")]
    page = await (await emu_http.get("/")).text()
    script = await (await emu_http.get("/dashboard/dashboard.js")).text()
    assert 'id="topics"' in page and "data.topics" in script  # the browser test sees the rows themselves
