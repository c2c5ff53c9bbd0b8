"""Injected faults, where a provider can inject them: the client's retries see them, and nothing is lost or
duplicated because of them."""

from __future__ import annotations

import pytest

from queue_runtime import QueueClient
from queue_runtime.errors import MessageLockLostError, ServiceUnavailableError
from queue_runtime.ports import FaultControl

from ._helpers import SHORT, WAIT, msg, receive_all

pytestmark = [pytest.mark.asyncio, pytest.mark.requires_capability("fault_injection")]


async def test_a_transient_fault_is_retried_and_the_message_arrives_once(
    queue_client: QueueClient, queue_name: str, queue_faults: FaultControl
) -> None:
    await queue_faults.inject("send", error="service_unavailable", count=1, queue=queue_name)
    await queue_client.send_message(queue_name, msg(b"sent through a fault"))
    got = await receive_all(queue_client, queue_name, 2)
    assert [m.body for m in got] == [b"sent through a fault"]


async def test_more_faults_than_retries_surface_as_the_injected_error(
    queue_client: QueueClient, queue_name: str, queue_faults: FaultControl
) -> None:
    attempts = queue_client.config.retry.max_attempts
    await queue_faults.inject("send", error="service_unavailable", count=attempts, queue=queue_name)
    with pytest.raises(ServiceUnavailableError):
        await queue_client.send_message(queue_name, msg(b"refused"))
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
    await queue_client.send_message(queue_name, msg(b"accepted"))  # the faults are used up
    received = await queue_client.receive_message(queue_name, timeout=WAIT)
    assert received is not None and received.body == b"accepted"


async def test_a_permanent_fault_on_settle_leaves_the_message_safe(
    queue_client: QueueClient, queue_name: str, queue_faults: FaultControl
) -> None:
    await queue_client.send_message(queue_name, msg(b"still here"))
    received = await queue_client.receive_message(queue_name, timeout=WAIT)
    assert received is not None
    await queue_faults.inject("complete", error="message_lock_lost", count=1, queue=queue_name)
    with pytest.raises(MessageLockLostError):
        await queue_client.complete_message(received)
    await queue_client.complete_message(received)  # the lock itself was never touched
    assert await queue_client.receive_message(queue_name, timeout=SHORT) is None
