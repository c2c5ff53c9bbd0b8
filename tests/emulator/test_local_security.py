"""Local security of the REST front: another web page cannot drive the emulator, a foreign Host is not served,
and only JSON bodies change state. With a real headless Chromium page, and with plain HTTP for each rule."""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from queue_emulator.app import create_app
from queue_emulator.rest.keys import BROKER
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

from queue_runtime.broker import BrokerMessage

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
JSON = {"Content-Type": "application/json"}


@pytest_asyncio.fixture
async def http() -> Iterator[Client]:  # type: ignore[misc]
    async with TestClient(TestServer(create_app(EmulatorSettings(clock="manual")))) as client:
        client.server.app[BROKER].create_queue("q")
        client.server.app[BROKER].send("q", [BrokerMessage(body=b"keep me")])
        yield client


def _still_there(client: Client) -> bool:
    broker = client.server.app[BROKER]
    return "q" in broker.queue_names() and broker.get_queue("q").active_count == 1


RECEIVE = '{"max_messages": 10, "receive_and_delete": true}'


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
@pytest.mark.asyncio
async def test_a_body_that_is_not_json_is_refused(http: Client, content_type: str) -> None:
    response = await http.post("/v1/queues/q/messages/receive", data=RECEIVE, headers={"Content-Type": content_type})
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_operation"
    assert _still_there(http)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://localhost"])
@pytest.mark.asyncio
async def test_a_foreign_origin_is_refused_even_with_json(http: Client, origin: str) -> None:
    for path in ("/v1/queues/q/messages/receive", "/v1/_control/reset"):
        response = await http.post(path, data=RECEIVE, headers={**JSON, "Origin": origin})
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "authorization_failed"
    assert _still_there(http)


@pytest.mark.asyncio
async def test_the_dashboards_own_origin_and_plain_clients_are_served(http: Client) -> None:
    own = f"http://{http.host}:{http.port}"
    response = await http.post("/v1/queues/q/messages/peek", data="{}", headers={**JSON, "Origin": own})
    assert response.status == 200
    response = await http.post("/v1/queues/q/messages/peek", data="{}", headers=JSON)  # no Origin: not a browser
    assert response.status == 200
    assert (await http.post("/v1/_control/clock/advance", json={"seconds": 1})).status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io"])
@pytest.mark.asyncio
async def test_a_foreign_host_name_is_refused(http: Client, host: str) -> None:
    response = await http.post("/v1/queues/q/messages/receive", data=RECEIVE, headers={**JSON, "Host": host})
    assert response.status == 403
    assert (await http.get("/v1/queues", headers={"Host": host})).status == 403
    assert _still_there(http)


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1", "[::1]:8080", "10.1.2.3:8080", "app.localhost"])
@pytest.mark.asyncio
async def test_loopback_names_and_ip_addresses_are_served(http: Client, host: str) -> None:
    assert (await http.get("/v1/queues", headers={"Host": host})).status == 200


@pytest.mark.asyncio
async def test_configured_hosts_and_origins_are_served() -> None:
    settings = EmulatorSettings(clock="manual", allowed_hosts="queue-emulator, ci.internal",
                                allowed_origins="http://localhost:3000")
    async with TestClient(TestServer(create_app(settings))) as client:
        assert (await client.get("/v1/queues", headers={"Host": "queue-emulator:8080"})).status == 200
        assert (await client.get("/v1/queues", headers={"Host": "other.internal"})).status == 403
        headers = {**JSON, "Origin": "http://localhost:3000"}
        assert (await client.put("/v1/queues/web", data="{}", headers=headers)).status == 201
    anything = EmulatorSettings(allowed_hosts="*", allowed_origins="*")
    async with TestClient(TestServer(create_app(anything))) as client:
        headers = {**JSON, "Origin": "http://evil.example", "Host": "evil.example"}
        assert (await client.put("/v1/queues/open", data="{}", headers=headers)).status == 201


def test_the_cli_flags_and_environment_twins() -> None:
    from queue_emulator.cli import settings_from

    flags = settings_from(["--allowed-hosts", "a.test", "--allowed-origins", "http://a.test:1"], {})
    assert (flags.allowed_hosts, flags.allowed_origins) == ("a.test", "http://a.test:1")
    env = settings_from([], {"QUEUE_EMULATOR_ALLOWED_HOSTS": "b.test", "QUEUE_EMULATOR_ALLOWED_ORIGINS": "*"})
    assert (env.allowed_hosts, env.allowed_origins) == ("b.test", "*")


# ------------------------------------------------------------------------------------------------ a real browser


class _AttackerPage(BaseHTTPRequestHandler):
    """A web page on another origin that tries every request a page can send without asking (no preflight)."""

    target = ""

    def do_GET(self) -> None:
        html = f"""<!doctype html><html><body>
<form id="f" method="POST" action="{self.target}/v1/queues/q/messages/receive" enctype="text/plain" target="sink">
  <input name='{{"max_messages": 10, "receive_and_delete": true, "x": "' value='"}}'>
</form><iframe name="sink"></iframe>
<script>
window.results = [];
async function attack() {{
  const shots = [
    ["/v1/queues/q/messages/receive", {{method: "POST", mode: "no-cors", body: '{RECEIVE}',
                                        headers: {{"Content-Type": "text/plain"}}}}],
    ["/v1/queues/q/messages/receive", {{method: "POST", mode: "no-cors",
                                        body: new URLSearchParams({{max_messages: "10"}})}}],
    ["/v1/_control/reset", {{method: "POST", mode: "no-cors"}}],
    ["/v1/queues/q/messages/receive", {{method: "POST", body: '{RECEIVE}',
                                        headers: {{"Content-Type": "application/json"}}}}],
  ];
  for (const [path, init] of shots) {{
    try {{ await fetch("{self.target}" + path, init); window.results.push("sent"); }}
    catch (e) {{ window.results.push("blocked"); }}
  }}
  document.getElementById("f").submit();
  window.done = true;
}}
attack();
</script></body></html>"""
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(clock="manual", amqp=False)) as running:
        running.broker.create_queue("q")
        running.broker.send("q", [BrokerMessage(body=b"keep me")])
        yield running


@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does that)")
def test_a_cross_origin_page_in_a_real_browser_cannot_touch_the_emulator(emulator: EmulatorThread) -> None:
    from playwright.sync_api import sync_playwright

    _AttackerPage.target = emulator.url
    attacker = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
                page.wait_for_function("window.done === true", timeout=15_000)
                page.wait_for_timeout(500)  # the form's navigation
                # The dashboard itself (same origin) still works from the same browser.
                page.goto(emulator.url + "/")
                status = page.evaluate("""async () => (await fetch("/v1/queues/q/messages/peek", {method: "POST",
                    headers: {"Content-Type": "application/json"}, body: "{}"})).status""")
                assert status == 200
            finally:
                browser.close()
    finally:
        attacker.shutdown()
    properties = emulator.broker.get_queue("q")
    assert (properties.active_count, properties.locked_count) == (1, 0)
    (kept,) = emulator.broker.peek("q", 1, 10)
    assert base64.b64encode(kept.body) == base64.b64encode(b"keep me")
