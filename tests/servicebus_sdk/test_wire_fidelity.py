"""Field-for-field fidelity with Service Bus, through the real azure-servicebus SDK (sync and async).

Every SDK call here has a small timeout and the module a pytest-timeout: a hang is a failure, never a wait.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageState, ServiceBusReceiveMode
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.amqp import AmqpAnnotatedMessage, AmqpMessageHeader
from azure.servicebus.exceptions import MessageLockLostError, ServiceBusError

from .conftest import Emulator

pytestmark = pytest.mark.timeout(60)

WAIT = 1
LOCK_TOKEN = b"x-opt-lock-token"


def client(emu: Emulator) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(emu.connection_string(), retry_total=0)


def async_client(emu: Emulator) -> AsyncServiceBusClient:
    return AsyncServiceBusClient.from_connection_string(emu.connection_string(), retry_total=0)


# ------------------------------------------------------------------------------------------------ rejections


def test_send_without_session_id_to_session_queue_raises_with_our_description(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    with client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusError, match="requires sessions"):
            sender.send_messages(ServiceBusMessage(b"x"), timeout=5)


@pytest.mark.asyncio
async def test_send_without_session_id_to_session_queue_raises_async(emulator: Emulator) -> None:
    queue = emulator.queue(sessions=True)
    async with async_client(emulator) as sb, sb.get_queue_sender(queue) as sender:
        with pytest.raises(ServiceBusError, match="requires sessions"):
            await sender.send_messages(ServiceBusMessage(b"x"), timeout=5)


def test_failed_management_settlement_is_answered_with_status_and_description(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"deferred"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            receiver.defer_message(message)
            (deferred,) = receiver.receive_deferred_messages([message.sequence_number], timeout=5)
            emulator.call(emulator.broker.complete, queue, str(deferred.lock_token))  # settled elsewhere
            with pytest.raises(MessageLockLostError, match="already settled") as info:
                receiver.complete_message(deferred)  # through $management: the message came by sequence number
            assert "Status Code: 410" in str(info.value)


@pytest.mark.asyncio
async def test_failed_management_settlement_is_answered_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(b"deferred"))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            await receiver.defer_message(message)
            (deferred,) = await receiver.receive_deferred_messages([message.sequence_number], timeout=5)
            emulator.call(emulator.broker.complete, queue, str(deferred.lock_token))
            with pytest.raises(MessageLockLostError, match="already settled"):
                await receiver.complete_message(deferred)


# ------------------------------------------------------------------------------------------------ annotations


def test_peek_lock_transfers_carry_the_lock_token_in_delivery_annotations(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(b"a"), ServiceBusMessage(b"b")])
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            received = receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
            assert len(received) == 2
            for message in received:
                annotations = message.raw_amqp_message.delivery_annotations
                assert annotations is not None
                assert str(annotations[LOCK_TOKEN]) == str(message.lock_token)
                assert message.enqueued_sequence_number == message.sequence_number
                receiver.complete_message(message)
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"c"))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT,
                                   receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            assert message.raw_amqp_message.delivery_annotations == {}


@pytest.mark.asyncio
async def test_peek_lock_transfers_carry_the_lock_token_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(b"a"))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            annotations = message.raw_amqp_message.delivery_annotations
            assert annotations is not None and str(annotations[LOCK_TOKEN]) == str(message.lock_token)
            await receiver.complete_message(message)


def test_message_state_active_deferred_scheduled(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages([ServiceBusMessage(b"active"), ServiceBusMessage(b"defer")])
            sender.schedule_messages(ServiceBusMessage(b"scheduled"),
                                     dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            states = {str(m): m.state for m in receiver.peek_messages(10, timeout=5)}
            assert states == {"active": ServiceBusMessageState.ACTIVE, "defer": ServiceBusMessageState.ACTIVE,
                              "scheduled": ServiceBusMessageState.SCHEDULED}
            received = receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
            assert {m.state for m in received} == {ServiceBusMessageState.ACTIVE}
            to_defer = next(m for m in received if str(m) == "defer")
            receiver.defer_message(to_defer)
            (deferred,) = receiver.receive_deferred_messages([to_defer.sequence_number], timeout=5)
            assert deferred.state == ServiceBusMessageState.DEFERRED
            peeked = receiver.peek_messages(10, sequence_number=1, timeout=5)
            assert {str(m): m.state for m in peeked}["defer"] == ServiceBusMessageState.DEFERRED


@pytest.mark.asyncio
async def test_message_state_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.schedule_messages(ServiceBusMessage(b"scheduled"),
                                           dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (peeked,) = await receiver.peek_messages(10, timeout=5)
            assert peeked.state == ServiceBusMessageState.SCHEDULED


def _annotated() -> AmqpAnnotatedMessage:
    # The Python SDK encodes delivery annotations after the body: the emulator must accept that order.
    return AmqpAnnotatedMessage(
        data_body=b"annotated", header=AmqpMessageHeader(priority=7),
        annotations={"my-annotation": "v"}, delivery_annotations={"my-delivery": 1}, footer={"my-footer": "f"},
        application_properties={"a": 1},
    )


def _check_annotated(message: object) -> None:
    raw = message.raw_amqp_message  # type: ignore[attr-defined]
    assert raw.header.priority == 7
    assert raw.annotations[b"my-annotation"] == b"v"
    assert raw.delivery_annotations[b"my-delivery"] == 1
    assert raw.footer == {b"my-footer": b"f"}
    assert raw.application_properties == {b"a": 1}


def test_sections_in_the_sdks_order_round_trip(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(_annotated(), timeout=5)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            _check_annotated(message)


@pytest.mark.asyncio
async def test_sections_in_the_sdks_order_round_trip_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(_annotated(), timeout=5)
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            _check_annotated(message)


PROPERTY_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
TYPED_PROPERTIES = {
    "decimal": decimal.Decimal("3.25"), "negative-decimal": decimal.Decimal("-1.5"), "uuid": PROPERTY_UUID,
    "timestamp": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    "list": [1, "a"], "map": {"k": 1}, "int": -3, "float": 1.5, "bool": False, "string": "s",
}


def _check_typed(properties: dict[bytes, object]) -> None:
    assert properties[b"decimal"] == decimal.Decimal("3.25")
    assert isinstance(properties[b"decimal"], decimal.Decimal)
    assert properties[b"negative-decimal"] == decimal.Decimal("-1.5")
    assert properties[b"uuid"] == PROPERTY_UUID
    # the SDK decodes timestamps in properties to their milliseconds
    assert properties[b"timestamp"] == 1704164645000
    assert properties[b"list"] == [1, b"a"] and properties[b"map"] == {b"k": 1}
    assert properties[b"int"] == -3 and properties[b"float"] == 1.5 and properties[b"bool"] is False


def test_typed_property_values_round_trip(emulator: Emulator) -> None:
    queue = emulator.queue()
    with client(emulator) as sb:
        with sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"typed", application_properties=TYPED_PROPERTIES), timeout=5)
        with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (peeked,) = receiver.peek_messages(1, timeout=5)
            _check_typed(peeked.application_properties)  # type: ignore[arg-type]
            (message,) = receiver.receive_messages(max_wait_time=WAIT)
            _check_typed(message.application_properties)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_typed_property_values_round_trip_async(emulator: Emulator) -> None:
    queue = emulator.queue()
    async with async_client(emulator) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(ServiceBusMessage(b"typed", application_properties=TYPED_PROPERTIES))
        async with sb.get_queue_receiver(queue, max_wait_time=WAIT) as receiver:
            (message,) = await receiver.receive_messages(max_wait_time=WAIT)
            _check_typed(message.application_properties)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ close


def test_a_connection_closed_with_an_error_surfaces_its_cause_not_an_index_error() -> None:
    from queue_runtime.broker import SystemClock

    emu = Emulator(SystemClock())
    closed = False
    try:
        queue = emu.queue()
        with client(emu) as sb, sb.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b"before"), timeout=5)
            emu.close()  # the server closes every connection with amqp:connection:forced
            closed = True
            with pytest.raises(ServiceBusError) as info:
                sender.send_messages(ServiceBusMessage(b"after"), timeout=5)
            assert not isinstance(info.value.__context__, IndexError)
            assert "IndexError" not in repr(info.value)
    finally:
        if not closed:
            emu.close()
