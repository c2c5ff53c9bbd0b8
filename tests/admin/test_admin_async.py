"""The real async ``ServiceBusAdministrationClient`` (``azure.servicebus.aio.management``) over HTTPS against
the emulator, and an AMQP round trip with the async ``ServiceBusClient`` on what it created."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.aio.management import ServiceBusAdministrationClient
from azure.servicebus.management import CorrelationRuleFilter, SqlRuleAction, SqlRuleFilter
from queue_emulator.runner import EmulatorThread

pytestmark = pytest.mark.asyncio


async def test_async_queue_crud_and_runtime(async_admin: ServiceBusAdministrationClient,
                                            emulator: EmulatorThread, name: str) -> None:
    created = await async_admin.create_queue(name, lock_duration=timedelta(seconds=15), max_delivery_count=4,
                                             user_metadata="async")
    assert (created.lock_duration, created.max_delivery_count, created.user_metadata) == (
        timedelta(seconds=15), 4, "async")
    with pytest.raises(ResourceExistsError):
        await async_admin.create_queue(name)
    queue = await async_admin.get_queue(name)
    queue.max_delivery_count = 9
    await async_admin.update_queue(queue)
    assert (await async_admin.get_queue(name)).max_delivery_count == 9
    assert name in [q.name async for q in async_admin.list_queues()]

    assert emulator.servicebus_connection_string is not None
    async with ServiceBusClient.from_connection_string(emulator.servicebus_connection_string) as bus:
        async with bus.get_queue_sender(name) as sender:
            await sender.send_messages([ServiceBusMessage("a"), ServiceBusMessage("b")])
        runtime = await async_admin.get_queue_runtime_properties(name)
        assert runtime.active_message_count == 2
        async with bus.get_queue_receiver(name, max_wait_time=5) as receiver:
            received = await receiver.receive_messages(max_message_count=2, max_wait_time=5)
            assert sorted(str(m) for m in received) == ["a", "b"]
            for message in received:
                await receiver.complete_message(message)
    assert (await async_admin.get_queue_runtime_properties(name)).total_message_count == 0

    await async_admin.delete_queue(name)
    with pytest.raises(ResourceNotFoundError):
        await async_admin.get_queue(name)
    with pytest.raises(ResourceNotFoundError):
        await async_admin.delete_queue(name)


async def test_async_topics_subscriptions_rules(async_admin: ServiceBusAdministrationClient,
                                                emulator: EmulatorThread, name: str) -> None:
    topic = await async_admin.create_topic(name, default_message_time_to_live=timedelta(minutes=5))
    assert topic.default_message_time_to_live == timedelta(minutes=5)
    sub = await async_admin.create_subscription(name, "s", max_delivery_count=3, lock_duration=timedelta(seconds=40))
    assert (sub.max_delivery_count, sub.lock_duration) == (3, timedelta(seconds=40))
    await async_admin.delete_rule(name, "s", "$Default")
    await async_admin.create_rule(name, "s", "big", filter=SqlRuleFilter("size > @n", parameters={"@n": 5}),
                                  action=SqlRuleAction("SET big = TRUE"))
    await async_admin.create_rule(name, "s", "vip", filter=CorrelationRuleFilter(label="vip"))
    rule = await async_admin.get_rule(name, "s", "big")
    assert isinstance(rule.filter, SqlRuleFilter) and rule.filter.parameters == {"@n": 5}
    assert [r.name async for r in async_admin.list_rules(name, "s")] == ["big", "vip"]
    with pytest.raises(ResourceExistsError):
        await async_admin.create_rule(name, "s", "vip")

    assert emulator.servicebus_connection_string is not None
    async with ServiceBusClient.from_connection_string(emulator.servicebus_connection_string) as bus:
        async with bus.get_topic_sender(name) as sender:
            await sender.send_messages([ServiceBusMessage("small", application_properties={"size": 1}),
                                        ServiceBusMessage("large", application_properties={"size": 50}),
                                        ServiceBusMessage("vip", subject="vip")])
        runtime = await async_admin.get_subscription_runtime_properties(name, "s")
        assert runtime.active_message_count == 2
        async with bus.get_subscription_receiver(name, "s", max_wait_time=5) as receiver:
            received = await receiver.receive_messages(max_message_count=5, max_wait_time=3)
            assert sorted(str(m) for m in received) == ["large", "vip"]
            for message in received:
                await receiver.complete_message(message)

    subs = [s.name async for s in async_admin.list_subscriptions(name)]
    assert subs == ["s"]
    assert name in [t.name async for t in async_admin.list_topics()]
    runtime_topic = await async_admin.get_topic_runtime_properties(name)
    assert runtime_topic.subscription_count == 1
    await async_admin.delete_subscription(name, "s")
    await async_admin.delete_topic(name)
    with pytest.raises(ResourceNotFoundError):
        await async_admin.get_topic(name)


async def test_async_paging_over_500_queues(async_admin: ServiceBusAdministrationClient, name: str) -> None:
    names = [f"{name}-{i:03d}" for i in range(505)]
    for queue in names:
        await async_admin.create_queue(queue)
    listed = [q.name async for q in async_admin.list_queues() if q.name.startswith(name + "-")]
    assert listed == names
    runtime = [q.name async for q in async_admin.list_queues_runtime_properties() if q.name.startswith(name + "-")]
    assert runtime == names
    for queue in names:
        await async_admin.delete_queue(queue)
    assert [q.name async for q in async_admin.list_queues() if q.name.startswith(name + "-")] == []


async def test_async_namespace_properties(async_admin: ServiceBusAdministrationClient) -> None:
    namespace = await async_admin.get_namespace_properties()
    assert namespace.name == "queue-emulator"
