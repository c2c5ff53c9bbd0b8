"""Retry, backoff, circuit breaker and timeouts, proven with a provider that fails on purpose and virtual time."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
import pytest_asyncio

from queue_runtime import (
    CircuitState,
    InMemoryConfig,
    Message,
    QueueClient,
    QueueConfig,
    RetryPolicy,
)
from queue_runtime._resilience import backoff_delay
from queue_runtime.errors import (
    CircuitOpenError,
    OperationTimeoutError,
    QueueConnectionError,
    QueueNotFoundError,
    ServiceUnavailableError,
    ThrottledError,
)
from queue_runtime.providers.memory import InMemoryProvider
from queue_runtime.testing import FaultInjectingProvider


class VirtualTime:
    """Records the sleeps the client asks for and advances a monotonic clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def faulty() -> FaultInjectingProvider:
    return FaultInjectingProvider(InMemoryProvider(InMemoryConfig(clock="manual")))


def make_client(faulty: FaultInjectingProvider, time: VirtualTime, **config: object) -> QueueClient:
    return QueueClient(
        faulty,
        QueueConfig.model_validate(config),
        sleep=time.sleep,
        monotonic=time.monotonic,
        rng=random.Random(7),
    )


@pytest_asyncio.fixture
async def client(faulty: FaultInjectingProvider, time: VirtualTime) -> QueueClient:
    client = make_client(
        faulty,
        time,
        retry={"max_attempts": 4, "base_delay": 0.1, "max_delay": 1.0, "jitter": False},
        circuit_breaker={"failure_threshold": 3, "recovery_time": 30},
    )
    await client.create_queue("q")
    return client


def test_backoff_is_exponential_capped_and_jitter_stays_within_the_cap() -> None:
    policy = RetryPolicy(base_delay=timedelta(milliseconds=100), max_delay=timedelta(seconds=1), jitter=False)
    assert [backoff_delay(policy, n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    jittered = RetryPolicy(base_delay=timedelta(milliseconds=100), max_delay=timedelta(seconds=1))
    rng = random.Random(1)
    samples = [backoff_delay(jittered, 3, rng) for _ in range(200)]
    assert all(0 <= s <= 0.4 for s in samples)
    assert max(samples) > 0.3 and min(samples) < 0.1  # full jitter spreads over the whole range


@pytest.mark.asyncio
async def test_transient_errors_are_retried_with_backoff_then_succeed(
    client: QueueClient, faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    faulty.fail("send_messages", QueueConnectionError("connection reset"), times=2)
    await client.send_message("q", Message(b"a"))
    assert faulty.calls["send_messages"] == 3
    assert time.sleeps == [0.1, 0.2]
    assert (await client.receive_message("q", 0)) is not None


@pytest.mark.asyncio
async def test_retries_stop_at_max_attempts_and_raise_the_last_error(
    client: QueueClient, faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    faulty.fail("send_messages", ServiceUnavailableError("busy"), times=10)
    with pytest.raises(ServiceUnavailableError):
        await client.send_message("q", Message(b"a"))
    assert faulty.calls["send_messages"] == 3  # the breaker (threshold 3) opened before attempt 4
    with pytest.raises(CircuitOpenError):
        await client.send_message("q", Message(b"a"))
    assert faulty.calls["send_messages"] == 3  # failing fast: the provider was not called


@pytest.mark.asyncio
async def test_permanent_errors_are_never_retried_and_do_not_trip_the_breaker(
    client: QueueClient, faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    for _ in range(5):
        faulty.fail("receive_messages", QueueNotFoundError("q"))
        with pytest.raises(QueueNotFoundError):
            await client.receive_message("q", 0)
    assert faulty.calls["receive_messages"] == 5
    assert time.sleeps == []
    assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_retry_after_from_the_service_wins_over_backoff(
    client: QueueClient, faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    faulty.fail("complete", ThrottledError("slow down", retry_after=5.0))
    await client.send_message("q", Message(b"a"))
    received = await client.receive_message("q", 0)
    assert received is not None
    await client.complete_message(received)
    assert time.sleeps == [5.0]


@pytest.mark.asyncio
async def test_circuit_opens_half_opens_after_recovery_and_closes_on_success(
    faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    client = make_client(
        faulty,
        time,
        retry={"max_attempts": 1},
        circuit_breaker={"failure_threshold": 2, "recovery_time": 30},
    )
    await client.create_queue("q")
    faulty.fail("send_messages", QueueConnectionError("down"), times=3)
    for _ in range(2):
        with pytest.raises(QueueConnectionError):
            await client.send_message("q", Message(b"a"))
    assert client.circuit_breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        await client.send_message("q", Message(b"a"))
    assert info.value.retry_after == pytest.approx(30.0)
    time.now += 30
    assert client.circuit_breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(QueueConnectionError):  # the trial call fails: open again
        await client.send_message("q", Message(b"a"))
    assert client.circuit_breaker.state is CircuitState.OPEN
    time.now += 30
    await client.send_message("q", Message(b"a"))  # trial succeeds: closed
    assert client.circuit_breaker.state is CircuitState.CLOSED
    assert faulty.calls["send_messages"] == 4


@pytest.mark.asyncio
async def test_breaker_can_be_disabled(faulty: FaultInjectingProvider, time: VirtualTime) -> None:
    client = make_client(faulty, time, retry={"max_attempts": 1}, circuit_breaker={"enabled": False})
    faulty.fail("get_queue", QueueConnectionError("down"), times=20)
    for _ in range(20):
        with pytest.raises(QueueConnectionError):
            await client.get_queue("q")
    assert faulty.calls["get_queue"] == 20


@pytest.mark.asyncio
async def test_a_hung_call_times_out_as_a_transient_error(faulty: FaultInjectingProvider, time: VirtualTime) -> None:
    client = make_client(faulty, time, retry={"max_attempts": 2, "jitter": False}, default_timeout=0.05)
    await client.create_queue("q")
    faulty.delay("get_queue", 10.0)
    with pytest.raises(OperationTimeoutError, match="did not finish within"):
        await client.get_queue("q")
    assert faulty.calls["get_queue"] == 2  # timed out, retried once, timed out again


@pytest.mark.asyncio
async def test_receive_timeout_budget_covers_the_long_poll(faulty: FaultInjectingProvider, time: VirtualTime) -> None:
    client = make_client(faulty, time, default_timeout=0.05)
    await client.create_queue("q")

    async def send_later() -> None:
        await asyncio.sleep(0.1)
        await client.send_message("q", Message(b"late"))

    task = asyncio.create_task(send_later())
    received = await client.receive_message("q", timeout=2)  # waits past default_timeout without timing out
    await task
    assert received is not None and received.body == b"late"


def _half_open_client(faulty: FaultInjectingProvider, time: VirtualTime) -> QueueClient:
    return make_client(
        faulty,
        time,
        retry={"max_attempts": 1},
        circuit_breaker={"failure_threshold": 1, "recovery_time": 30, "half_open_max_calls": 1},
    )


async def _open_then_half_open(client: QueueClient, faulty: FaultInjectingProvider, time: VirtualTime) -> None:
    await client.create_queue("q")
    faulty.fail("get_queue", QueueConnectionError("down"))
    with pytest.raises(QueueConnectionError):
        await client.get_queue("q")
    assert client.circuit_breaker.state is CircuitState.OPEN
    time.now += 30
    assert client.circuit_breaker.state is CircuitState.HALF_OPEN


@pytest.mark.asyncio
async def test_half_open_trial_ending_in_a_permanent_error_releases_the_trial(
    faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    client = _half_open_client(faulty, time)
    await _open_then_half_open(client, faulty, time)
    with pytest.raises(QueueNotFoundError):  # the trial: a permanent error says nothing about the service
        await client.get_queue("missing")
    assert client.circuit_breaker.state is CircuitState.HALF_OPEN
    assert (await client.get_queue("q")).name == "q"  # the next call may try, and its success closes the breaker
    assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_half_open_trial_that_is_cancelled_releases_the_trial(
    faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    client = _half_open_client(faulty, time)
    await _open_then_half_open(client, faulty, time)
    faulty.delay("get_queue", 60)
    trial = asyncio.create_task(client.get_queue("q"))
    await asyncio.sleep(0.01)
    with pytest.raises(CircuitOpenError):  # one trial at a time while it runs
        await client.get_queue("q")
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    faulty.clear()
    assert (await client.get_queue("q")).name == "q"
    assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_half_open_trial_ending_in_a_foreign_exception_releases_the_trial(
    faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    client = _half_open_client(faulty, time)
    await _open_then_half_open(client, faulty, time)
    faulty.fail("get_queue", RuntimeError("adapter bug"))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await client.get_queue("q")
    assert (await client.get_queue("q")).name == "q"
    assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_half_open_trial_ending_in_a_transient_failure_reopens_for_another_period(
    faulty: FaultInjectingProvider, time: VirtualTime
) -> None:
    client = _half_open_client(faulty, time)
    await _open_then_half_open(client, faulty, time)
    faulty.fail("get_queue", ServiceUnavailableError("still down"))
    with pytest.raises(ServiceUnavailableError):
        await client.get_queue("q")
    assert client.circuit_breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        await client.get_queue("q")
    assert info.value.retry_after == pytest.approx(30.0)
    time.now += 30
    assert (await client.get_queue("q")).name == "q"
    assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_half_open_trial_success_closes(faulty: FaultInjectingProvider, time: VirtualTime) -> None:
    client = _half_open_client(faulty, time)
    await _open_then_half_open(client, faulty, time)
    assert (await client.get_queue("q")).name == "q"
    assert client.circuit_breaker.state is CircuitState.CLOSED
    for _ in range(3):
        await client.get_queue("q")
