"""Topics and subscriptions through the real azure-servicebus SDK (sync and async) against the AMQP front."""

from __future__ import annotations

import functools
import uuid

import pytest
from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus._common import mgmt_handlers  # test-only: the SDK has no public rule API over AMQP
from azure.servicebus._common.constants import (
    REQUEST_RESPONSE_ADD_RULE_OPERATION,
    REQUEST_RESPONSE_GET_RULES_OPERATION,
    REQUEST_RESPONSE_REMOVE_RULE_OPERATION,
)
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import ServiceBusError

from queue_runtime import CorrelationFilter, RuleProperties, SqlFilter, SubscriptionOptions

from .conftest import Emulator

WAIT = 1


def _topic(emu: Emulator, *subscriptions: tuple[str, RuleProperties | None, SubscriptionOptions | None]) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    emu.call(emu.broker.create_topic, name)
    for sub, rule, options in subscriptions:
        emu.call(emu.broker.create_subscription, name, sub, options, rule)
    return name


def test_sync_topic_sender_and_subscription_receivers(emulator: Emulator) -> None:
    red = RuleProperties(name="red", filter=SqlFilter(expression="color = 'red'"))
    topic = _topic(emulator, ("all", None, None), ("red", red, SubscriptionOptions(max_delivery_count=1)))
    with ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0) as sb:
        with sb.get_topic_sender(topic) as sender:
            sender.send_messages([
                ServiceBusMessage("r", application_properties={"color": "red"}, subject="order"),
                ServiceBusMessage("b", application_properties={"color": "blue"}),
            ])
        with sb.get_subscription_receiver(topic, "all", max_wait_time=WAIT) as receiver:
            got = receiver.receive_messages(max_message_count=5, max_wait_time=WAIT)
            assert sorted(str(m) for m in got) == ["b", "r"]
            for message in got:
                receiver.complete_message(message)
        with sb.get_subscription_receiver(topic, "red", max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_message_count=5, max_wait_time=WAIT)
            assert str(message) == "r" and message.subject == "order"
            receiver.abandon_message(message)  # max delivery 1: straight to the dead-letter queue
        with sb.get_subscription_receiver(
            topic, "red", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=WAIT
        ) as dlq:
            (dead,) = dlq.receive_messages(max_wait_time=WAIT)
            assert (str(dead), dead.dead_letter_reason) == ("r", "MaxDeliveryCountExceeded")
            dlq.complete_message(dead)
        with sb.get_topic_sender(topic) as sender:
            sender.send_messages(ServiceBusMessage("taken", application_properties={"color": "green"}))
        with sb.get_subscription_receiver(topic, "all", receive_mode="receiveanddelete", max_wait_time=WAIT) as rad:
            assert [str(m) for m in rad.receive_messages(max_wait_time=WAIT)] == ["taken"]
            assert rad.peek_messages(5) == []  # receive-and-delete: gone once delivered


def test_sync_sessions_on_a_subscription_and_listing(emulator: Emulator) -> None:
    topic = _topic(emulator, ("s", None, SubscriptionOptions(requires_session=True)))
    with ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0) as sb:
        with sb.get_topic_sender(topic) as sender:
            sender.send_messages([ServiceBusMessage("1", session_id="a"), ServiceBusMessage("2", session_id="b")])
        assert sorted(sb.list_subscription_sessions(topic, "s")) == ["a", "b"]
        with sb.get_subscription_receiver(topic, "s", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=WAIT) as rx:
            assert rx.session.session_id == "a"
            (message,) = rx.receive_messages(max_wait_time=WAIT)
            rx.session.set_state(b"seen")
            assert rx.session.get_state() == b"seen"
            rx.complete_message(message)
        with sb.get_subscription_receiver(topic, "s", session_id="b", max_wait_time=WAIT) as rx:
            (message,) = rx.receive_messages(max_wait_time=WAIT)
            assert str(message) == "2"
            rx.complete_message(message)


def test_sync_bad_links_are_refused(emulator: Emulator) -> None:
    topic = _topic(emulator, ("s", None, None))
    with ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0) as sb:
        with pytest.raises(ServiceBusError), sb.get_subscription_receiver(topic, "missing") as receiver:
            receiver.receive_messages(max_wait_time=WAIT)
        with pytest.raises(ServiceBusError), sb.get_queue_receiver(topic) as receiver:  # a topic holds no messages
            receiver.receive_messages(max_wait_time=WAIT)


def _mgmt(receiver: object, operation: bytes, body: dict[str, object]) -> object:
    callback = functools.partial(mgmt_handlers.default, amqp_transport=receiver._amqp_transport)  # type: ignore[attr-defined]
    return receiver._mgmt_request_response_with_retry(operation, body, callback)  # type: ignore[attr-defined]


def test_rule_manager_operations_over_management(emulator: Emulator) -> None:
    topic = _topic(emulator, ("s", None, None))
    with ServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0) as sb:
        with sb.get_subscription_receiver(topic, "s", max_wait_time=WAIT) as receiver:
            _mgmt(receiver, REQUEST_RESPONSE_ADD_RULE_OPERATION, {
                "rule-name": "vip",
                "rule-description": {"correlation-filter": {"label": "vip", "properties": {"tier": "gold"}}},
            })
            _mgmt(receiver, REQUEST_RESPONSE_ADD_RULE_OPERATION, {
                "rule-name": "sql",
                "rule-description": {
                    "sql-filter": {"expression": "n > 1"}, "sql-rule-action": {"expression": "SET a = 1"},
                },
            })
            with pytest.raises(ServiceBusError):  # malformed: refused with an argument error, nothing added
                _mgmt(receiver, REQUEST_RESPONSE_ADD_RULE_OPERATION, {
                    "rule-name": "bad", "rule-description": {"sql-filter": {"expression": "n = = 1"}},
                })
            rules = emulator.call(emulator.broker.rules, topic, "s")
            assert [r.name for r in rules] == ["$Default", "vip", "sql"]
            assert rules[1].filter == CorrelationFilter(subject="vip", properties={"tier": "gold"})
            answer = _mgmt(receiver, REQUEST_RESPONSE_GET_RULES_OPERATION, {"top": 10, "skip": 0})
            assert isinstance(answer, dict)
            assert len(answer[b"rules"]) == 3
            _mgmt(receiver, REQUEST_RESPONSE_REMOVE_RULE_OPERATION, {"rule-name": "$Default"})
            with pytest.raises(ServiceBusError):
                _mgmt(receiver, REQUEST_RESPONSE_REMOVE_RULE_OPERATION, {"rule-name": "$Default"})
    assert [r.name for r in emulator.call(emulator.broker.rules, topic, "s")] == ["vip", "sql"]


@pytest.mark.asyncio
async def test_async_topic_and_subscription(emulator: Emulator) -> None:
    topic = _topic(emulator, ("a", None, None), ("s", None, SubscriptionOptions(requires_session=True)))
    async with AsyncServiceBusClient.from_connection_string(emulator.connection_string(), retry_total=0) as sb:
        async with sb.get_topic_sender(topic) as sender:
            await sender.send_messages(ServiceBusMessage("x", session_id="k"))
        async with sb.get_subscription_receiver(topic, "a", max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            await receiver.dead_letter_message(message, reason="bad", error_description="why")
        async with sb.get_subscription_receiver(
            topic, "a", sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=WAIT
        ) as dlq:
            (dead,) = await dlq.receive_messages(max_wait_time=WAIT)
            assert (dead.dead_letter_reason, dead.dead_letter_error_description) == ("bad", "why")
            await dlq.complete_message(dead)
        sessions = [s async for s in sb.list_subscription_sessions(topic, "s")]
        assert sessions == ["k"]
        async with sb.get_subscription_receiver(
            topic, "s", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=WAIT
        ) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            assert receiver.session.session_id == "k"
            await receiver.complete_message(message)
