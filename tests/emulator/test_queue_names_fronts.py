"""One naming rule for every front of the emulator: what the AMQP front (with auto-create) creates, REST can
inspect and delete; what REST refuses, the AMQP front refuses too, with the same reason."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusError
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings


@pytest.fixture(scope="module")
def auto_creating() -> Iterator[EmulatorThread]:
    with EmulatorThread(EmulatorSettings(auto_create=True)) as emulator:
        yield emulator


def _rest(emulator: EmulatorThread, method: str, path: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"{emulator.url.rstrip('/')}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            return answer.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _connection_string(emulator: EmulatorThread) -> str:
    return (f"Endpoint=sb://127.0.0.1:{emulator.amqp_port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=any;UseDevelopmentEmulator=true")


def test_a_dotted_name_made_over_amqp_is_seen_and_deleted_over_rest(auto_creating: EmulatorThread) -> None:
    with ServiceBusClient.from_connection_string(_connection_string(auto_creating)) as client:
        with client.get_queue_sender("orders.v2") as sender:
            sender.send_messages(ServiceBusMessage("hello"))
    status, queue = _rest(auto_creating, "GET", "/v1/queues/orders.v2")
    assert status == 200 and queue["name"] == "orders.v2" and queue["active_count"] == 1
    status, _ = _rest(auto_creating, "DELETE", "/v1/queues/orders.v2")
    assert status in (200, 204)


@pytest.mark.parametrize("name", ["has space", "100%", "caf\u00e9", "a/b", "x" * 300])
def test_a_name_rest_refuses_the_amqp_front_refuses_too(
    auto_creating: EmulatorThread, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, error = _rest(auto_creating, "PUT", "/v1/queues/" + quote(name, safe=""))
    assert status in (400, 404), error  # a '/' cannot even reach the route
    with ServiceBusClient.from_connection_string(_connection_string(auto_creating), retry_total=0) as client:
        with pytest.raises(ServiceBusError) as info, client.get_queue_sender(name) as sender:
            sender.send_messages(ServiceBusMessage("hello"))
    # Service Bus refuses the token for such an entity (the SDK raises its authentication error with a generic
    # text); the emulator's log line says which naming rule the name breaks.
    assert "invalid queue_name" in str(info.value) or "invalid queue_name" in caplog.text, caplog.text
    status, listing = _rest(auto_creating, "GET", "/v1/queues")
    assert name not in json.dumps(listing)
