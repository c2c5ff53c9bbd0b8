"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright): it loads, shows a peeked
body, resubmits a dead letter, purges, advances the clock, filters. Every effect is checked over REST, not on the
page alone.

Screenshots are test artefacts: they go to ``$QUEUE_RUNTIME_ARTIFACTS/dashboard/`` when that variable is set (CI),
else to the test's ``tmp_path``. The test skips only when no Chromium is installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

CHROMIUM = os.environ.get("QUEUE_RUNTIME_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(clock="manual")) as emulator:
        yield emulator


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    root = os.environ.get("QUEUE_RUNTIME_ARTIFACTS")
    folder = Path(root) / "dashboard" if root else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Rest:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = requests.request(method, self.url + path, json=body, timeout=10)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def send(self, queue: str, body: bytes, **fields: Any) -> None:
        self("POST", f"/v1/queues/{queue}/messages",
             {"messages": [{"body": base64.b64encode(body).decode(), **fields}]})

    def dead_letter_next(self, queue: str, reason: str, description: str) -> None:
        [message] = self("POST", f"/v1/queues/{queue}/messages/receive", {})["messages"]
        self("POST", f"/v1/queues/{queue}/locks/{message['lock_token']}/dead-letter",
             {"reason": reason, "description": description}, status=204)

    def queue(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self("GET", f"/v1/queues/{name}")
        return answer


@pytest.fixture
def page(browser: Browser, emulator: EmulatorThread) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"the page raised: {errors}"


def test_the_dashboard_shows_bodies_and_acts_through_rest(page: Page, emulator: EmulatorThread, shots: Path) -> None:
    rest = Rest(emulator.url)
    rest("PUT", "/v1/queues/orders", {"max_delivery_count": 5}, status=201)
    rest("PUT", "/v1/queues/idle-queue", {}, status=201)
    rest.send("orders", json.dumps({"order": 42, "items": ["tea"]}).encode(), message_id="order-42",
              content_type="application/json", application_properties={"tenant": "acme"})
    rest.send("orders", b"\x00\x01binary\xff", message_id="blob")
    rest.send("orders", b"not json at all", message_id="poison")
    rest.dead_letter_next("orders", "Unparseable", "the order had no total")  # order-42 goes to the DLQ
    rest.send("orders", json.dumps({"order": 43}).encode(), message_id="order-43")

    page.goto(emulator.url + "/")
    expect(page.locator("#version")).to_contain_text("v")
    expect(page.locator("#connection-string")).to_contain_text("Endpoint=sb://127.0.0.1:")
    expect(page.locator("#amqp-port")).to_have_text(str(emulator.amqp_port))
    row = page.locator("#entities tr[data-queue=orders]")
    expect(row).to_contain_text("orders")

    # search and hide-empty
    page.fill("#search", "idle")
    expect(page.locator("#entities tr[data-queue=orders]")).to_have_count(0)
    expect(page.locator("#entities tr[data-queue=idle-queue]")).to_have_count(1)
    page.fill("#search", "")
    page.check("#hide-empty")
    expect(page.locator("#entities tr[data-queue=idle-queue]")).to_have_count(0)
    expect(page.locator("#entities")).to_contain_text("1 hidden by the filter")

    # the message browser: active messages, a JSON body pretty-printed, a binary body as hex
    row.click()
    expect(page.locator("#messages tr[data-seq]")).to_have_count(3)
    page.locator("#messages tr[data-seq='2']").click()
    expect(page.locator("#detail-body")).to_contain_text("00000000  00 01 62 69")
    page.locator("#messages tr[data-seq='4']").click()
    expect(page.locator("#detail-body")).to_contain_text('"order": 43')
    page.screenshot(path=str(shots / "01-message-body.png"), full_page=True)

    # dead letters: body, reason, resubmit one (checked over REST)
    page.click(".tab[data-view=dead]")
    dead_row = page.locator("#messages tr[data-seq]")
    expect(dead_row).to_have_count(1)
    expect(dead_row).to_contain_text("Unparseable")
    dead_row.click()
    expect(page.locator("#detail-body")).to_contain_text('"order": 42')
    expect(page.locator("#detail-properties")).to_contain_text("the order had no total")
    expect(page.locator("#detail-properties")).to_contain_text('"acme"')
    expect(page.locator("#journal [data-kind=dead_lettered]")).to_have_count(1)
    page.screenshot(path=str(shots / "02-dead-letter.png"), full_page=True)
    page.click("#messages .resubmit-one")
    expect(page.locator("#status")).to_contain_text("resubmitted dead letter")
    queue = rest.queue("orders")
    assert (queue["active_count"], queue["dead_letter_count"]) == (4, 0)
    back = rest("POST", "/v1/queues/orders/messages/peek", {"max_messages": 10})["messages"]
    resubmitted = [m for m in back if m["message_id"] == "order-42"]
    assert len(resubmitted) == 1 and resubmitted[0]["delivery_count"] == 0
    assert resubmitted[0]["dead_letter_reason"] is None
    expect(page.locator("#journal [data-kind=resubmitted]")).to_have_count(1)

    # send a test message from the page
    page.click(".tab[data-view=available]")
    page.click("#send-test")
    page.fill("#send-body", '{"from": "the dashboard"}')
    page.fill("#send-message-id", "typed-by-hand")
    page.click("#send-submit")
    expect(page.locator("#status")).to_contain_text("sent a test message")
    assert any(m["message_id"] == "typed-by-hand"
               for m in rest("POST", "/v1/queues/orders/messages/peek", {"max_messages": 10})["messages"])

    # advance the manual clock by 120 s (checked over REST)
    before = rest("GET", "/v1/_control/clock")["now"]
    page.fill("#advance-seconds", "120")
    page.click("#advance-clock")
    expect(page.locator("#status")).to_contain_text("advanced the clock by 120s")
    after = rest("GET", "/v1/_control/clock")["now"]
    assert (datetime.fromisoformat(after) - datetime.fromisoformat(before)).total_seconds() == 120

    # a locked message shows who holds it and until when (the holder comes from the journal)
    response = requests.post(emulator.url + "/v1/queues/orders/messages/receive", json={},
                             headers={"X-Request-Id": "worker-7"}, timeout=10)
    assert response.status_code == 200 and len(response.json()["messages"]) == 1
    page.click(".tab[data-view=locked]")
    expect(page.locator("#messages tr[data-seq]")).to_have_count(1)
    expect(page.locator("#messages")).to_contain_text("rest:worker-7, until in 30s")
    page.click(".tab[data-view=available]")

    # purge (the confirm dialog is accepted), checked over REST
    page.click("#purge")
    expect(page.locator("#status")).to_contain_text("5 messages deleted")
    assert (rest.queue("orders")["active_count"], rest.queue("orders")["locked_count"]) == (0, 0)
    expect(page.locator("#messages")).to_contain_text("no messages in this view")
    page.screenshot(path=str(shots / "03-after-purge.png"), full_page=True)


def test_dead_letters_page_instead_of_being_cut(page: Page, emulator: EmulatorThread, shots: Path) -> None:
    rest = Rest(emulator.url)
    rest("PUT", "/v1/queues/many", {}, status=201)
    for i in range(60):
        rest.send("many", f"m{i}".encode(), message_id=f"m{i}")
    got = rest("POST", "/v1/queues/many/messages/receive", {"max_messages": 60})["messages"]
    assert len(got) == 60
    for m in got:
        rest("POST", f"/v1/queues/many/locks/{m['lock_token']}/dead-letter", {"reason": "Batch"}, status=204)
    page.goto(emulator.url + "/")
    page.locator("#entities tr[data-queue=many]").click()
    page.click(".tab[data-view=dead]")
    expect(page.locator("#messages tr[data-seq]")).to_have_count(50)
    expect(page.locator("#page-info")).to_contain_text("more on the next page")
    page.click("#page-next")
    expect(page.locator("#messages tr[data-seq]")).to_have_count(10)
    expect(page.locator("#page-info")).to_contain_text("page 2")
    # select two and resubmit them
    page.locator("#messages tr[data-seq] input[type=checkbox]").nth(0).check()
    page.locator("#messages tr[data-seq] input[type=checkbox]").nth(1).check()
    page.click("#resubmit-selected")
    expect(page.locator("#status")).to_contain_text("resubmitted 2 dead letters")
    assert (rest.queue("many")["active_count"], rest.queue("many")["dead_letter_count"]) == (2, 58)
    page.click("#resubmit-all")
    expect(page.locator("#status")).to_contain_text("58 back in many")
    assert rest.queue("many")["dead_letter_count"] == 0
    page.screenshot(path=str(shots / "04-resubmitted-all.png"), full_page=True)


def test_topics_show_their_subscriptions_rules_and_depths(page: Page, emulator: EmulatorThread, shots: Path) -> None:
    rest = Rest(emulator.url)
    rest("PUT", "/v1/topics/events", {}, status=201)
    rest("PUT", "/v1/topics/events/subscriptions/audit", {}, status=201)
    rest("PUT", "/v1/topics/events/subscriptions/red",
         {"rule": {"name": "red-only", "filter": {"kind": "sql", "expression": "color = 'red'"}}}, status=201)
    for color in ("red", "blue"):
        rest("POST", "/v1/topics/events/messages",
             {"messages": [{"body": base64.b64encode(color.encode()).decode(),
                            "application_properties": {"color": color}}]})
    page.goto(emulator.url + "/")
    audit = page.locator('#topics tr[data-subscription="events/Subscriptions/audit"]')
    red = page.locator('#topics tr[data-subscription="events/Subscriptions/red"]')
    expect(audit.locator("td").nth(1)).to_have_text("$Default (true)")
    expect(audit.locator("td").nth(2)).to_have_text("2")  # both messages
    expect(red.locator("td").nth(1)).to_have_text("red-only (sql)")
    expect(red.locator("td").nth(2)).to_have_text("1")  # only the red one
    page.screenshot(path=str(shots / "05-topics.png"), full_page=True)
