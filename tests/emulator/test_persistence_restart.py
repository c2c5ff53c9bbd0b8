"""A restart with a data directory, seen by users: the unmodified azure-servicebus SDK and the REST API find the
entities, the messages in every state, session state, sequence numbers and duplicate detection where they left
them."""

from __future__ import annotations

import base64
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageState
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

ENTITIES = """
queues:
  - name: orders
    duplicate_detection_window: 600
    max_delivery_count: 3
  - name: carts
    requires_session: true
topics:
  - name: events
    subscriptions:
      - name: everything
"""


def rest(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def states(client: ServiceBusClient, queue: str, *, dead_letter: bool = False) -> dict[str, tuple[Any, ...]]:
    kwargs: dict[str, Any] = {"sub_queue": "deadletter"} if dead_letter else {}
    with client.get_queue_receiver(queue, **kwargs) as receiver:
        peeked = receiver.peek_messages(max_message_count=50)
    return {str(m.message_id): (m.sequence_number, m.state, m.delivery_count, m.dead_letter_reason) for m in peeked}


@pytest.fixture
def settings(tmp_path: Path) -> EmulatorSettings:
    entities = tmp_path / "entities.yaml"
    entities.write_text(ENTITIES)
    return EmulatorSettings(data_dir=tmp_path / "data", entity_file=entities, admin=False)


def test_entities_messages_sessions_and_counters_come_back(settings: EmulatorSettings) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with EmulatorThread(settings) as emulator:
        url = emulator.url
        rest(url, "PUT", "/v1/queues/made-at-runtime", {"max_delivery_count": 7})
        with ServiceBusClient.from_connection_string(emulator.servicebus_connection_string or "") as client:
            with client.get_queue_sender("orders") as sender:
                sender.send_messages([ServiceBusMessage(f"order {i}", message_id=f"m{i}",
                                                        application_properties={"n": i}) for i in range(6)])
                [scheduled_seq] = sender.schedule_messages(ServiceBusMessage("later", message_id="m-later"), later)
            with client.get_queue_receiver("orders") as receiver:
                received = {str(m.message_id): m for m in receiver.receive_messages(max_message_count=4,
                                                                                     max_wait_time=5)}
                assert set(received) == {"m0", "m1", "m2", "m3"}
                receiver.complete_message(received["m0"])
                receiver.defer_message(received["m1"])
                receiver.dead_letter_message(received["m2"], reason="Bad", error_description="not an order")
                # A REST lock is held by its token, not by a link: it outlives the restart until its deadline.
                [locked] = rest(url, "POST", "/v1/queues/orders/messages/receive", {"max_messages": 1})["messages"]
                assert locked["message_id"] == "m4"
                locked_token = locked["lock_token"]
                receiver.abandon_message(received["m3"])  # delivered once, back in the queue
            with client.get_queue_receiver("carts", session_id="cart-1") as session_receiver:
                session_receiver.session.set_state(b"step 2 of 3")
            with client.get_queue_sender("carts") as sender:
                sender.send_messages(ServiceBusMessage("item", session_id="cart-1"))
            with client.get_topic_sender("events") as sender:
                sender.send_messages(ServiceBusMessage("event", message_id="e1"))
            before = states(client, "orders")
            dead_before = states(client, "orders", dead_letter=True)
        rest(url, "POST", "/v1/queues/made-at-runtime/messages",
             {"messages": [{"body": base64.b64encode(b"kept").decode()}]})

    with EmulatorThread(settings) as emulator:
        url = emulator.url
        assert rest(url, "GET", "/v1/queues/made-at-runtime")["options"]["max_delivery_count"] == 7
        assert rest(url, "GET", "/v1/queues/made-at-runtime")["active_count"] == 1
        with ServiceBusClient.from_connection_string(emulator.servicebus_connection_string or "") as client:
            assert states(client, "orders") == before
            assert states(client, "orders", dead_letter=True) == dead_before
            assert before["m1"][1] == ServiceBusMessageState.DEFERRED
            assert before["m-later"] == (scheduled_seq, ServiceBusMessageState.SCHEDULED, 0, None)
            assert dead_before["m2"][3] == "Bad"
            assert "m0" not in before  # completed before the restart: gone for good

            assert before["m4"][1] == ServiceBusMessageState.ACTIVE  # locked by REST
            # The lock taken before the restart still holds until its deadline: its token settles.
            rest(url, "POST", f"/v1/queues/orders/locks/{locked_token}/complete", {})
            with client.get_queue_sender("orders") as sender:
                sender.send_messages(ServiceBusMessage("again", message_id="m5"))  # a duplicate: dropped
                sender.send_messages(ServiceBusMessage("new", message_id="m6"))
            with client.get_queue_receiver("orders") as receiver:
                got = receiver.receive_messages(max_message_count=10, max_wait_time=5)
                assert sorted(str(m.message_id) for m in got) == ["m3", "m5", "m6"]
                by_id = {str(m.message_id): m for m in got}
                assert str(next(iter(by_id["m5"].body)), "utf-8") == "order 5"  # the original, not the resend
                assert by_id["m3"].delivery_count == 1  # one earlier delivery (before the restart) counted
                # numbering goes on after the highest number ever given (the scheduled one)
                assert by_id["m6"].sequence_number == scheduled_seq + 1
                for message in got:
                    receiver.complete_message(message)
                [deferred] = receiver.receive_deferred_messages([before["m1"][0]])
                assert str(deferred.message_id) == "m1"
                receiver.complete_message(deferred)
            with client.get_queue_receiver("carts", session_id="cart-1") as session_receiver:
                assert session_receiver.session.get_state() == b"step 2 of 3"
                [item] = session_receiver.receive_messages(max_wait_time=5)
                session_receiver.complete_message(item)
            with client.get_subscription_receiver("events", "everything") as receiver:
                [event] = receiver.receive_messages(max_wait_time=5)
                assert str(event.message_id) == "e1"
                receiver.complete_message(event)
            with client.get_topic_sender("events") as sender:
                sender.send_messages(ServiceBusMessage("event", message_id="e1"))  # no window on this topic
        assert rest(url, "GET", "/v1/queues/orders")["active_count"] == 0


def test_a_reset_also_empties_the_data_directory(settings: EmulatorSettings) -> None:
    with EmulatorThread(settings) as emulator:
        rest(emulator.url, "PUT", "/v1/queues/temporary", {})
        rest(emulator.url, "POST", "/v1/queues/orders/messages",
             {"messages": [{"body": base64.b64encode(b"x").decode()}]})
        rest(emulator.url, "POST", "/v1/_control/reset")
    with EmulatorThread(settings) as emulator:
        names = [q["name"] for q in rest(emulator.url, "GET", "/v1/queues")["queues"]]
        assert names == ["carts", "orders"]  # the entity file's queues, made again, and empty
        assert rest(emulator.url, "GET", "/v1/queues/orders")["active_count"] == 0


def test_the_manual_clock_resumes_where_it_stood(settings: EmulatorSettings) -> None:
    manual = settings.model_copy(update={"clock": "manual"})
    with EmulatorThread(manual) as emulator:
        rest(emulator.url, "POST", "/v1/_control/clock/advance", {"seconds": 86_400})
        moved = rest(emulator.url, "GET", "/v1/info")["now"]
    with EmulatorThread(manual) as emulator:
        assert rest(emulator.url, "GET", "/v1/info")["now"] == moved


def test_the_administration_clients_view_of_an_entity_comes_back(tmp_path: Path) -> None:
    """What the administration endpoint stores without enforcing (user metadata, status, auto-delete on idle)
    lives with the entity in the engine, so a data directory keeps it too."""
    from azure.servicebus.management import EntityStatus, ServiceBusAdministrationClient

    settings = EmulatorSettings(data_dir=tmp_path / "data")

    def administration(emulator: EmulatorThread) -> ServiceBusAdministrationClient:
        assert emulator.servicebus_admin_connection_string is not None and emulator.ca_path is not None
        return ServiceBusAdministrationClient.from_connection_string(
            emulator.servicebus_admin_connection_string, connection_verify=str(emulator.ca_path), retry_total=0)

    with EmulatorThread(settings) as emulator, administration(emulator) as admin:
        admin.create_queue("billing", user_metadata="owned by billing", auto_delete_on_idle=timedelta(days=2),
                           max_delivery_count=4)
        queue = admin.get_queue("billing")
        queue.status = EntityStatus.SEND_DISABLED
        admin.update_queue(queue)
        admin.create_topic("audit", user_metadata="audit trail")
        admin.create_subscription("audit", "archive", user_metadata="cold storage")
        before = admin.get_queue_runtime_properties("billing")
    with EmulatorThread(settings) as emulator, administration(emulator) as admin:
        after = admin.get_queue("billing")
        assert (after.user_metadata, after.status, after.auto_delete_on_idle, after.max_delivery_count) == (
            "owned by billing", EntityStatus.SEND_DISABLED, timedelta(days=2), 4)
        times = admin.get_queue_runtime_properties("billing")
        assert (times.created_at_utc, times.updated_at_utc) == (before.created_at_utc, before.updated_at_utc)
        assert before.updated_at_utc > before.created_at_utc
        assert admin.get_topic("audit").user_metadata == "audit trail"
        assert admin.get_subscription("audit", "archive").user_metadata == "cold storage"
        admin.delete_queue("billing")
        admin.create_queue("billing")
        assert admin.get_queue("billing").user_metadata is None  # a new entity inherits nothing
