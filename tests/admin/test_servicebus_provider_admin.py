"""The ``servicebus`` provider manages the emulator's queues and topics through the SDK's administration client
(HTTPS, the CA from ``/v1/info``), and falls back to the REST API when the emulator has no administration
endpoint. Which front served a request shows in the REST front's request counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from admin_support import rest
from pydantic import SecretStr
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

from queue_runtime import AzureServiceBusConfig, QueueName, QueueOptions, TopicOptions
from queue_runtime.errors import QueueAlreadyExistsError, QueueNotFoundError
from queue_runtime.providers.servicebus import ServiceBusProvider

pytestmark = pytest.mark.asyncio


def _config(emulator: EmulatorThread) -> AzureServiceBusConfig:
    assert emulator.servicebus_connection_string is not None
    return AzureServiceBusConfig(connection_string=SecretStr(emulator.servicebus_connection_string),
                                 emulator_management_url=emulator.url)


def _rest_requests(emulator: EmulatorThread, operation: str) -> int:
    return int(rest(emulator, "GET", "/v1/_control/stats")["requests"].get(operation, 0))


async def test_queues_and_topics_go_through_the_administration_endpoint(emulator: EmulatorThread,
                                                                        name: str) -> None:
    provider = await ServiceBusProvider.connect(_config(emulator))
    try:
        before = (_rest_requests(emulator, "create_queue"), _rest_requests(emulator, "get_queue"),
                  _rest_requests(emulator, "create_topic"))
        await provider.create_queue(QueueName(name + "-dest"), QueueOptions())
        props = await provider.create_queue(QueueName(name), QueueOptions(
            lock_duration=timedelta(seconds=40), max_delivery_count=4, default_message_ttl=timedelta(hours=1),
            duplicate_detection_window=timedelta(minutes=2), forward_to=name + "-dest"))
        assert props.options.lock_duration == timedelta(seconds=40)
        assert props.options.max_delivery_count == 4
        assert props.options.default_message_ttl == timedelta(hours=1)
        assert props.options.duplicate_detection_window == timedelta(minutes=2)
        assert props.options.forward_to == name + "-dest"
        with pytest.raises(QueueAlreadyExistsError):
            await provider.create_queue(QueueName(name), QueueOptions())
        topic = await provider.create_topic(QueueName(name + "-t"), TopicOptions(default_message_ttl=timedelta(1)))
        assert topic.options.default_message_ttl == timedelta(days=1)
        assert name + "-t" in [t.name for t in await provider.list_topics()]
        after = (_rest_requests(emulator, "create_queue"), _rest_requests(emulator, "get_queue"),
                 _rest_requests(emulator, "create_topic"))
        assert after == before  # none of it went through the REST API
        over_rest = rest(emulator, "GET", f"/v1/queues/{name}")  # one engine
        assert over_rest["options"]["lock_duration"] == 40
        await provider.delete_queue(QueueName(name))
        with pytest.raises(QueueNotFoundError):
            await provider.get_queue(QueueName(name))
        await provider.delete_topic(QueueName(name + "-t"))
    finally:
        await provider.aclose()


async def test_an_emulator_without_the_administration_endpoint_is_managed_over_rest(name: str) -> None:
    with EmulatorThread(EmulatorSettings(clock="manual", admin=False)) as emulator:
        assert emulator.admin_tls_port is None and emulator.ca_path is None
        provider = await ServiceBusProvider.connect(_config(emulator))
        try:
            before = _rest_requests(emulator, "create_queue")
            props = await provider.create_queue(QueueName(name), QueueOptions(max_delivery_count=3))
            assert props.options.max_delivery_count == 3
            assert _rest_requests(emulator, "create_queue") == before + 1
        finally:
            await provider.aclose()
