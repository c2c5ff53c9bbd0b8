"""Injected faults over AMQP, in the forms Service Bus produces them, through the real SDK (sync and async).

The emulator's fault injector is shared by both fronts; these tests add faults directly to it (the REST control
API adds them the same way) and check what the SDK's user code sees, and that it recovers."""

from __future__ import annotations

import time

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import (
    MessageLockLostError,
    OperationTimeoutError,
    ServiceBusConnectionError,
    ServiceBusServerBusyError,
)

from .conftest import Emulator

pytestmark = pytest.mark.timeout(90)

WAIT = 1


def client(emu: Emulator, retries: int = 0) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(), retry_total=retries,
                                                   retry_backoff_factor=0.1)


def async_client(emu: Emulator, retries: int = 0) -> AsyncServiceBusClient:
    return AsyncServiceBusClient.from_connection_string(emu.connection_string(), retry_total=retries,
                                                        retry_backoff_factor=0.1)


def add(emu: Emulator, operation: str, error: str, *, queue: str, count: int = 1, latency: float = 0.0) -> None:
    emu.call(emu.faults.add, operation, error, count, latency, queue)


def test_server_busy_on_send_carries_a_retry_hint_and_a_retry_succeeds(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "send", "throttled", queue=queue)
    with client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusServerBusyError, match="Please wait 2 seconds and try again"):
            sender.send_messages(ServiceBusMessage(b"busy"), timeout=10)
        sender.send_messages(ServiceBusMessage(b"after"), timeout=10)
    add(emulator, "send", "service_unavailable", queue=queue)
    with client(emulator, retries=2) as sb, sb.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage(b"retried"), timeout=30)  # the SDK backs off and retries
    assert emulator.counts(queue).active_count == 2
    assert emulator.faults.injected == 2


@pytest.mark.asyncio
async def test_server_busy_on_send_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "send", "throttled", queue=queue)
    async with async_client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusServerBusyError):
            await sender.send_messages(ServiceBusMessage(b"busy"), timeout=10)
        await sender.send_messages(ServiceBusMessage(b"after"), timeout=10)
    assert emulator.counts(queue).active_count == 1


def test_lock_lost_on_settle_returns_the_message(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"m"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            emulator.call(emulator.faults.lose_lock, str(message.lock_token))
            with pytest.raises(MessageLockLostError, match="injected"):
                receiver.complete_message(message)
            (again,) = receiver.receive_messages(max_wait_time=WAIT)
            assert str(again) == "m" and again.delivery_count == 1
            receiver.complete_message(again)
    assert emulator.counts(queue).active_count == 0


@pytest.mark.asyncio
async def test_lock_lost_on_settle_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(b"m"))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            emulator.call(emulator.faults.lose_lock, str(message.lock_token))
            with pytest.raises(MessageLockLostError):
                await receiver.abandon_message(message)
    assert emulator.counts(queue).active_count == 1


def test_a_detached_receive_link_surfaces_and_the_sdk_recovers(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"m"))
        add(emulator, "receive", "link_detached", queue=queue)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            with pytest.raises(ServiceBusConnectionError, match="detach-forced"):
                receiver.receive_messages(max_wait_time=WAIT)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            receiver.complete_message(message)
    assert emulator.counts(queue).active_count == 0


def test_a_dropped_connection_fails_the_send_and_a_retry_reconnects(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "send", "connection_dropped", queue=queue)
    with client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusConnectionError):
            sender.send_messages(ServiceBusMessage(b"lost"), timeout=10)
    assert emulator.counts(queue).active_count == 0  # never confirmed, never enqueued
    add(emulator, "send", "connection_dropped", queue=queue)
    with client(emulator, retries=2) as sb, sb.get_queue_sender(queue) as sender:
        sender.send_messages(ServiceBusMessage(b"kept"), timeout=30)
    assert emulator.counts(queue).active_count == 1


@pytest.mark.asyncio
async def test_a_dropped_connection_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "send", "connection_dropped", queue=queue)
    async with async_client(emulator, retries=2) as sb, sb.get_queue_sender(queue) as sender:
        await sender.send_messages(ServiceBusMessage(b"kept"), timeout=30)
    assert emulator.counts(queue).active_count == 1


def test_a_delayed_disposition_arrives_late_or_times_the_send_out(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "complete", "none", queue=queue, latency=1.0)
    add(emulator, "send", "none", queue=queue, latency=5.0)
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            with pytest.raises(OperationTimeoutError):
                sender.send_messages(ServiceBusMessage(b"slow"), timeout=1)
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"m"), timeout=10)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            message = next(m for m in receiver.receive_messages(max_message_count=2, max_wait_time=2)
                           if str(m) == "m")
            started = time.monotonic()
            receiver.complete_message(message)
            assert time.monotonic() - started >= 0.9  # the broker's answer came after the injected latency


def test_management_operations_fail_as_server_busy(emulator: Emulator) -> None:
    queue = emulator.queue()
    add(emulator, "peek", "throttled", queue=queue)
    with client(emulator) as sb, sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
        with pytest.raises(ServiceBusServerBusyError, match="Please wait"):
            receiver.peek_messages(1, timeout=10)
        assert receiver.peek_messages(1, timeout=10) == []


def test_faults_added_over_rest_apply_to_the_amqp_front() -> None:
    import json
    import urllib.request

    from queue_emulator.runner import EmulatorThread

    with EmulatorThread() as emu:
        assert emu.amqp_port is not None

        def post(path: str, body: dict[str, object], method: str = "POST") -> int:
            request = urllib.request.Request(emu.url + path, data=json.dumps(body).encode(), method=method,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)

        assert post("/v1/queues/orders", {}, "PUT") == 201
        assert post("/v1/_control/faults", {"operation": "send", "error": "link_detached", "queue": "orders"}) == 201
        connection = (f"Endpoint=sb://127.0.0.1:{emu.amqp_port};SharedAccessKeyName=k;SharedAccessKey=k;"
                      "UseDevelopmentEmulator=true")
        with ServiceBusClient.from_connection_string(connection, retry_total=0) as sb:
            with sb.get_queue_sender("orders") as sender, pytest.raises(ServiceBusConnectionError):
                sender.send_messages(ServiceBusMessage(b"x"), timeout=10)
            with sb.get_queue_sender("orders") as sender:
                sender.send_messages(ServiceBusMessage(b"y"), timeout=10)


def test_accepting_a_session_can_fail_as_server_busy(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"s", session_id="A"))
        add(emulator, "accept_session", "throttled", queue=queue)
        with pytest.raises(ServiceBusServerBusyError):
            with sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT) as receiver:
                receiver.receive_messages(max_wait_time=WAIT)
        with sb.get_queue_receiver(queue, session_id="A", max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            receiver.complete_message(message)


def test_management_faults_delay_the_response_or_drop_the_connection(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"m"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            add(emulator, "renew_lock", "none", queue=queue, latency=1.0)
            started = time.monotonic()
            receiver.renew_message_lock(message, timeout=10)
            assert time.monotonic() - started >= 0.9
            add(emulator, "peek", "connection_dropped", queue=queue)
            with pytest.raises(ServiceBusConnectionError):
                receiver.peek_messages(1, timeout=10)
