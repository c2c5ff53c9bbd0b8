"""The real sync ``ServiceBusAdministrationClient`` over HTTPS (the emulator's generated CA) against the emulator:
CRUD and runtime properties of queues, topics, subscriptions and rules, paging, errors, behaviour-changing
updates and AMQP round trips on entities it created."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from admin_support import advance, rest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.management import (
    AuthorizationRule,
    CorrelationRuleFilter,
    FalseRuleFilter,
    ServiceBusAdministrationClient,
    SqlRuleAction,
    SqlRuleFilter,
    TrueRuleFilter,
)
from queue_emulator.runner import EmulatorThread

# ---------------------------------------------------------------------------------------------- queues


def test_queue_crud_keeps_every_field(admin: ServiceBusAdministrationClient, name: str) -> None:
    admin.create_queue(name + "-target")
    rule = AuthorizationRule(claim_type="SharedAccessKey", key_name="app", rights=["Listen", "Send"],
                             primary_key="a" * 44, secondary_key="b" * 44)
    created = admin.create_queue(
        name,
        lock_duration=timedelta(seconds=45),
        max_delivery_count=3,
        default_message_time_to_live=timedelta(hours=2),
        dead_lettering_on_message_expiration=True,
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(minutes=3),
        requires_session=True,
        max_size_in_megabytes=2048,
        auto_delete_on_idle=timedelta(hours=6),
        enable_batched_operations=False,
        enable_partitioning=True,
        enable_express=True,
        user_metadata="owned by billing",
        forward_dead_lettered_messages_to=name + "-target",
        max_message_size_in_kilobytes=1024,
        authorization_rules=[rule],
    )
    for queue in (created, admin.get_queue(name)):
        assert queue.name == name
        assert queue.lock_duration == timedelta(seconds=45)
        assert queue.max_delivery_count == 3
        assert queue.default_message_time_to_live == timedelta(hours=2)
        assert queue.dead_lettering_on_message_expiration is True
        assert queue.requires_duplicate_detection is True
        assert queue.duplicate_detection_history_time_window == timedelta(minutes=3)
        assert queue.requires_session is True
        assert queue.max_size_in_megabytes == 2048
        assert queue.auto_delete_on_idle == timedelta(hours=6)
        assert queue.enable_batched_operations is False
        assert queue.enable_partitioning is True
        assert queue.enable_express is True
        assert queue.user_metadata == "owned by billing"
        assert queue.forward_dead_lettered_messages_to is not None
        assert queue.forward_dead_lettered_messages_to.endswith("/" + name + "-target")
        assert queue.max_message_size_in_kilobytes == 1024
        assert queue.status == "Active"
        assert queue.authorization_rules is not None and len(queue.authorization_rules) == 1
        assert queue.authorization_rules[0].key_name == "app"
        assert queue.authorization_rules[0].rights == ["Listen", "Send"]
    assert name in [q.name for q in admin.list_queues()]

    queue = admin.get_queue(name)
    queue.lock_duration = timedelta(seconds=20)
    queue.user_metadata = "moved to payments"
    queue.status = "SendDisabled"
    queue.auto_delete_on_idle = timedelta(days=1)
    admin.update_queue(queue)
    updated = admin.get_queue(name)
    assert updated.lock_duration == timedelta(seconds=20)
    assert updated.user_metadata == "moved to payments"
    assert updated.status == "SendDisabled"
    assert updated.auto_delete_on_idle == timedelta(days=1)
    assert updated.max_delivery_count == 3  # untouched fields survive the update

    admin.delete_queue(name)
    with pytest.raises(ResourceNotFoundError):
        admin.get_queue(name)
    assert name not in [q.name for q in admin.list_queues()]


def test_queue_defaults_are_service_bus_defaults(admin: ServiceBusAdministrationClient, name: str) -> None:
    queue = admin.create_queue(name)
    assert queue.lock_duration == timedelta(seconds=30)
    assert queue.max_delivery_count == 10
    assert queue.requires_session is False
    assert queue.requires_duplicate_detection is False
    assert queue.max_size_in_megabytes == 1024
    assert queue.enable_batched_operations is True
    assert queue.status == "Active"
    assert queue.default_message_time_to_live is not None and queue.default_message_time_to_live.days > 10_000_000


def test_queue_runtime_properties_count_messages(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, emulator: EmulatorThread, name: str
) -> None:
    admin.create_queue(name, max_delivery_count=1)
    with bus.get_queue_sender(name) as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        sender.schedule_messages(ServiceBusMessage("later"), _emulator_now(emulator) + timedelta(hours=1))
    with bus.get_queue_receiver(name, max_wait_time=5) as receiver:
        [message] = receiver.receive_messages(max_message_count=1)
        receiver.dead_letter_message(message, reason="test")
    runtime = admin.get_queue_runtime_properties(name)
    assert runtime.name == name
    assert runtime.active_message_count == 2
    assert runtime.dead_letter_message_count == 1
    assert runtime.scheduled_message_count == 1
    assert runtime.total_message_count == 4
    assert runtime.size_in_bytes > 0
    assert runtime.transfer_message_count == 0
    assert runtime.created_at_utc is not None


def _emulator_now(emulator: EmulatorThread) -> Any:
    from datetime import datetime

    clock = rest(emulator, "GET", "/v1/_control/clock")
    return datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))


def test_duplicate_and_missing_entities(admin: ServiceBusAdministrationClient, name: str) -> None:
    admin.create_queue(name)
    with pytest.raises(ResourceExistsError):
        admin.create_queue(name)
    admin.create_topic(name + "-t")
    with pytest.raises(ResourceExistsError):
        admin.create_topic(name + "-t")
    with pytest.raises(ResourceExistsError):
        admin.create_queue(name + "-t")  # a topic already has the name
    admin.create_subscription(name + "-t", "s")
    with pytest.raises(ResourceExistsError):
        admin.create_subscription(name + "-t", "s")
    admin.create_rule(name + "-t", "s", "r")
    with pytest.raises(ResourceExistsError):
        admin.create_rule(name + "-t", "s", "r")

    missing = name + "-missing"
    for call in (
        lambda: admin.get_queue(missing),
        lambda: admin.get_queue_runtime_properties(missing),
        lambda: admin.delete_queue(missing),
        lambda: admin.get_topic(missing),
        lambda: admin.delete_topic(missing),
        lambda: admin.get_subscription(name + "-t", "missing"),
        lambda: admin.get_subscription(missing, "s"),
        lambda: admin.delete_subscription(name + "-t", "missing"),
        lambda: admin.get_rule(name + "-t", "s", "missing"),
        lambda: admin.delete_rule(name + "-t", "s", "missing"),
        lambda: admin.create_subscription(missing, "s"),
        lambda: list(admin.list_subscriptions(missing)),
    ):
        with pytest.raises(ResourceNotFoundError):
            call()
    queue = admin.get_queue(name)
    admin.delete_queue(name)
    with pytest.raises(ResourceNotFoundError):
        admin.update_queue(queue)


# ---------------------------------------------------------------------------------------------- topics


def test_topic_crud_and_runtime_properties(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, emulator: EmulatorThread, name: str
) -> None:
    topic = admin.create_topic(
        name,
        default_message_time_to_live=timedelta(hours=1),
        requires_duplicate_detection=True,
        duplicate_detection_history_time_window=timedelta(minutes=2),
        max_size_in_megabytes=512,
        enable_partitioning=True,
        support_ordering=False,
        auto_delete_on_idle=timedelta(hours=3),
        user_metadata="events",
        enable_batched_operations=False,
    )
    for got in (topic, admin.get_topic(name)):
        assert got.default_message_time_to_live == timedelta(hours=1)
        assert got.requires_duplicate_detection is True
        assert got.duplicate_detection_history_time_window == timedelta(minutes=2)
        assert got.max_size_in_megabytes == 512
        assert got.enable_partitioning is True
        assert got.support_ordering is False
        assert got.auto_delete_on_idle == timedelta(hours=3)
        assert got.user_metadata == "events"
        assert got.enable_batched_operations is False
    assert name in [t.name for t in admin.list_topics()]

    admin.create_subscription(name, "a")
    admin.create_subscription(name, "b")
    with bus.get_topic_sender(name) as sender:
        sender.schedule_messages(ServiceBusMessage("later"), _emulator_now(emulator) + timedelta(hours=1))
    runtime = admin.get_topic_runtime_properties(name)
    assert runtime.subscription_count == 2
    assert runtime.scheduled_message_count == 1

    got = admin.get_topic(name)
    got.default_message_time_to_live = timedelta(minutes=30)
    got.user_metadata = "renamed"
    admin.update_topic(got)
    again = admin.get_topic(name)
    assert again.default_message_time_to_live == timedelta(minutes=30)
    assert again.user_metadata == "renamed"
    admin.delete_topic(name)
    with pytest.raises(ResourceNotFoundError):
        admin.get_topic(name)


# ---------------------------------------------------------------------------------------------- subscriptions


def test_subscription_crud_and_runtime_properties(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, name: str
) -> None:
    admin.create_topic(name)
    admin.create_queue(name + "-fwd")
    sub = admin.create_subscription(
        name, "audit",
        lock_duration=timedelta(minutes=1),
        max_delivery_count=4,
        dead_lettering_on_message_expiration=True,
        dead_lettering_on_filter_evaluation_exceptions=False,
        default_message_time_to_live=timedelta(hours=5),
        auto_delete_on_idle=timedelta(hours=8),
        user_metadata="auditors",
        enable_batched_operations=False,
        forward_dead_lettered_messages_to=name + "-fwd",
    )
    for got in (sub, admin.get_subscription(name, "audit")):
        assert got.name == "audit"
        assert got.lock_duration == timedelta(minutes=1)
        assert got.max_delivery_count == 4
        assert got.dead_lettering_on_message_expiration is True
        assert got.dead_lettering_on_filter_evaluation_exceptions is False
        assert got.default_message_time_to_live == timedelta(hours=5)
        assert got.auto_delete_on_idle == timedelta(hours=8)
        assert got.user_metadata == "auditors"
        assert got.enable_batched_operations is False
        assert got.forward_dead_lettered_messages_to is not None
        assert got.forward_dead_lettered_messages_to.endswith("/" + name + "-fwd")
    admin.create_subscription(name, "other")
    assert [s.name for s in admin.list_subscriptions(name)] == ["audit", "other"]

    with bus.get_topic_sender(name) as sender:
        sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
    runtime = admin.get_subscription_runtime_properties(name, "audit")
    assert runtime.active_message_count == 2
    assert runtime.total_message_count == 2
    assert [r.active_message_count for r in admin.list_subscriptions_runtime_properties(name)] == [2, 2]

    got = admin.get_subscription(name, "audit")
    got.max_delivery_count = 7
    got.user_metadata = "changed"
    admin.update_subscription(name, got)
    again = admin.get_subscription(name, "audit")
    assert again.max_delivery_count == 7
    assert again.user_metadata == "changed"
    admin.delete_subscription(name, "audit")
    assert [s.name for s in admin.list_subscriptions(name)] == ["other"]


# ---------------------------------------------------------------------------------------------- rules


def test_rule_crud_every_filter_kind(admin: ServiceBusAdministrationClient, name: str) -> None:
    admin.create_topic(name)
    admin.create_subscription(name, "s")
    admin.create_rule(name, "s", "sql", filter=SqlRuleFilter("amount > @min AND region = @r",
                                                              parameters={"@min": 10, "@r": "eu"}),
                      action=SqlRuleAction("SET tagged = @t", parameters={"@t": True}))
    admin.create_rule(name, "s", "corr", filter=CorrelationRuleFilter(
        correlation_id="c1", message_id="m1", to="to1", reply_to="rt", label="red", session_id="s1",
        reply_to_session_id="rs", content_type="application/json", properties={"kind": "order", "n": 2}))
    admin.create_rule(name, "s", "yes", filter=TrueRuleFilter())
    admin.create_rule(name, "s", "no", filter=FalseRuleFilter())

    sql = admin.get_rule(name, "s", "sql")
    assert isinstance(sql.filter, SqlRuleFilter)
    assert sql.filter.sql_expression == "amount > @min AND region = @r"
    assert sql.filter.parameters == {"@min": 10, "@r": "eu"}
    assert isinstance(sql.action, SqlRuleAction)
    assert sql.action.sql_expression == "SET tagged = @t"
    assert sql.action.parameters == {"@t": True}
    assert sql.created_at_utc is not None
    corr = admin.get_rule(name, "s", "corr")
    assert isinstance(corr.filter, CorrelationRuleFilter)
    assert (corr.filter.correlation_id, corr.filter.message_id, corr.filter.to, corr.filter.reply_to,
            corr.filter.label, corr.filter.session_id, corr.filter.reply_to_session_id,
            corr.filter.content_type) == ("c1", "m1", "to1", "rt", "red", "s1", "rs", "application/json")
    assert corr.filter.properties == {"kind": "order", "n": 2}
    assert corr.action is None
    assert isinstance(admin.get_rule(name, "s", "yes").filter, TrueRuleFilter)
    assert isinstance(admin.get_rule(name, "s", "no").filter, FalseRuleFilter)
    assert [r.name for r in admin.list_rules(name, "s")] == ["$Default", "sql", "corr", "yes", "no"]
    topic = admin.get_topic(name)
    assert topic.name == name

    sql.filter = SqlRuleFilter("amount > 100")
    sql.action = None
    admin.update_rule(name, "s", sql)
    changed = admin.get_rule(name, "s", "sql")
    assert isinstance(changed.filter, SqlRuleFilter) and changed.filter.sql_expression == "amount > 100"
    assert changed.action is None

    admin.delete_rule(name, "s", "$Default")
    admin.delete_rule(name, "s", "yes")
    assert [r.name for r in admin.list_rules(name, "s")] == ["sql", "corr", "no"]


def test_bad_sql_filter_is_an_http_error_not_a_crash(admin: ServiceBusAdministrationClient, name: str) -> None:
    from azure.core.exceptions import HttpResponseError

    admin.create_topic(name)
    admin.create_subscription(name, "s")
    with pytest.raises(HttpResponseError) as caught:
        admin.create_rule(name, "s", "bad", filter=SqlRuleFilter("amount >>> 3"))
    assert caught.value.status_code == 400
    assert "bad" not in [r.name for r in admin.list_rules(name, "s")]


# ---------------------------------------------------------------------------------------------- paging


def test_paging_over_more_than_500_queues(admin: ServiceBusAdministrationClient, name: str) -> None:
    names = [f"{name}-{i:03d}" for i in range(520)]
    for queue in names:
        admin.create_queue(queue)
    listed = [q.name for q in admin.list_queues() if q.name.startswith(name + "-")]
    assert listed == sorted(names)
    runtime = [q.name for q in admin.list_queues_runtime_properties() if q.name.startswith(name + "-")]
    assert runtime == sorted(names)
    pages = list(admin.list_queues().by_page())
    assert len(pages) >= 6  # 100 per page
    for queue in names:
        admin.delete_queue(queue)


def test_paging_over_subscriptions_and_rules(admin: ServiceBusAdministrationClient, name: str) -> None:
    admin.create_topic(name)
    subs = [f"s{i:03d}" for i in range(230)]
    for sub in subs:
        admin.create_subscription(name, sub)
    assert [s.name for s in admin.list_subscriptions(name)] == subs
    rules = [f"r{i:03d}" for i in range(130)]
    for rule in rules:
        admin.create_rule(name, "s000", rule, filter=SqlRuleFilter(f"n = {rule[1:]}"))
    assert [r.name for r in admin.list_rules(name, "s000")] == ["$Default", *rules]
    assert admin.get_topic_runtime_properties(name).subscription_count == 230


# ---------------------------------------------------------------------------------------------- behaviour


def test_lock_duration_update_changes_the_lock(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, name: str
) -> None:
    admin.create_queue(name, lock_duration=timedelta(seconds=10))
    with bus.get_queue_sender(name) as sender:
        sender.send_messages([ServiceBusMessage("one"), ServiceBusMessage("two")])
    with bus.get_queue_receiver(name, max_wait_time=5) as receiver:
        [first] = receiver.receive_messages(max_message_count=1)
        queue = admin.get_queue(name)
        queue.lock_duration = timedelta(seconds=90)
        admin.update_queue(queue)
        [second] = receiver.receive_messages(max_message_count=1)
        # The emulator's clock is frozen (manual); the AMQP front adds the wall time elapsed, well under 10 s.
        assert first.locked_until_utc is not None and second.locked_until_utc is not None
        assert timedelta(seconds=80) <= second.locked_until_utc - first.locked_until_utc < timedelta(seconds=90)


def test_max_delivery_count_update_changes_dead_lettering(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, name: str
) -> None:
    admin.create_queue(name, max_delivery_count=10)
    queue = admin.get_queue(name)
    queue.max_delivery_count = 2
    admin.update_queue(queue)
    with bus.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("poison"))
    with bus.get_queue_receiver(name, max_wait_time=2) as receiver:
        for _ in range(2):
            [message] = receiver.receive_messages(max_message_count=1)
            receiver.abandon_message(message)
        assert receiver.receive_messages(max_message_count=1, max_wait_time=1) == []
    runtime = admin.get_queue_runtime_properties(name)
    assert (runtime.active_message_count, runtime.dead_letter_message_count) == (0, 1)
    with bus.get_queue_receiver(name, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=5) as dlq:
        [dead] = dlq.receive_messages(max_message_count=1)
        assert str(dead) == "poison"
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"


def test_message_round_trip_over_amqp_on_admin_created_entities(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, name: str
) -> None:
    admin.create_queue(name)
    with bus.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("hello", application_properties={"k": "v"}))
    with bus.get_queue_receiver(name, max_wait_time=5) as receiver:
        [message] = receiver.receive_messages(max_message_count=1)
        assert str(message) == "hello" and message.application_properties == {b"k": b"v"}
        receiver.complete_message(message)
    assert admin.get_queue_runtime_properties(name).total_message_count == 0

    admin.create_topic(name + "-t")
    admin.create_subscription(name + "-t", "eu")
    admin.delete_rule(name + "-t", "eu", "$Default")
    admin.create_rule(name + "-t", "eu", "eu-only", filter=SqlRuleFilter("region = 'eu'"),
                      action=SqlRuleAction("SET routed = 'yes'"))
    with bus.get_topic_sender(name + "-t") as sender:
        sender.send_messages([ServiceBusMessage("eu", application_properties={"region": "eu"}),
                              ServiceBusMessage("us", application_properties={"region": "us"})])
    with bus.get_subscription_receiver(name + "-t", "eu", max_wait_time=2) as receiver:
        received = receiver.receive_messages(max_message_count=10, max_wait_time=2)
        assert [str(m) for m in received] == ["eu"]
        assert received[0].application_properties[b"routed"] == b"yes"
        receiver.complete_message(received[0])


def test_forwarding_set_by_the_admin_client_forwards(
    admin: ServiceBusAdministrationClient, bus: ServiceBusClient, name: str
) -> None:
    admin.create_queue(name + "-dest")
    admin.create_queue(name, forward_to=name + "-dest")
    assert (admin.get_queue(name).forward_to or "").endswith("/" + name + "-dest")
    with bus.get_queue_sender(name) as sender:
        sender.send_messages(ServiceBusMessage("hop"))
    with bus.get_queue_receiver(name + "-dest", max_wait_time=5) as receiver:
        [message] = receiver.receive_messages(max_message_count=1)
        assert str(message) == "hop"
        receiver.complete_message(message)


def test_one_engine_with_the_rest_api(admin: ServiceBusAdministrationClient, emulator: EmulatorThread,
                                      name: str) -> None:
    rest(emulator, "PUT", f"/v1/queues/{name}-rest", {"max_delivery_count": 5})
    assert admin.get_queue(name + "-rest").max_delivery_count == 5
    assert name + "-rest" in [q.name for q in admin.list_queues()]
    rest(emulator, "PUT", f"/v1/topics/{name}-rest-t", {})
    assert name + "-rest-t" in [t.name for t in admin.list_topics()]

    admin.create_queue(name + "-admin", lock_duration=timedelta(seconds=42))
    over_rest = rest(emulator, "GET", f"/v1/queues/{name}-admin")
    assert over_rest["options"]["lock_duration"] == 42
    overview = rest(emulator, "GET", "/v1/_control/overview")
    assert name + "-admin" in json.dumps(overview)  # what the dashboard shows


def test_entity_recreated_elsewhere_does_not_inherit_stored_fields(
    admin: ServiceBusAdministrationClient, emulator: EmulatorThread, name: str
) -> None:
    admin.create_queue(name, user_metadata="first life")
    rest(emulator, "DELETE", f"/v1/queues/{name}")
    advance(emulator, 1)
    rest(emulator, "PUT", f"/v1/queues/{name}", {})
    assert admin.get_queue(name).user_metadata is None


def test_namespace_properties(admin: ServiceBusAdministrationClient) -> None:
    namespace = admin.get_namespace_properties()
    assert namespace.name == "queue-emulator"
    assert namespace.messaging_sku == "Standard"
    assert namespace.namespace_type == "Messaging"
    assert namespace.created_at_utc is not None
