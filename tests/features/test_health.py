"""``await client.health()``: reachability, latency and circuit breaker state on every provider of the run, and
the emulator's health endpoint reporting its fronts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from queue_emulator.app import create_app
from queue_emulator.rest.keys import ENDPOINTS
from queue_emulator.settings import EmulatorSettings

from queue_runtime import (
    CircuitBreakerPolicy,
    CircuitState,
    EmulatorConfig,
    HealthStatus,
    InMemoryConfig,
    Message,
    QueueClient,
    QueueConfig,
    RetryPolicy,
)
from queue_runtime.errors import QueueError, ServiceUnavailableError
from queue_runtime.providers.emulator import EmulatorProvider
from queue_runtime.providers.memory import InMemoryProvider
from queue_runtime.testing import FaultInjectingProvider


@pytest.mark.asyncio
async def test_a_reachable_provider_is_healthy_with_a_latency(queue_client: QueueClient, queue_name: str) -> None:
    report = await queue_client.health()
    assert report.status is HealthStatus.HEALTHY and report.healthy and report.reachable
    assert report.latency is not None and report.latency > timedelta(0)
    assert report.circuit_state is CircuitState.CLOSED and report.error_code is None
    assert report.provider == queue_client.capabilities.provider
    ready = await queue_client.health(queue=queue_name)
    assert ready.healthy and ready.queue == queue_name
    missing = await queue_client.health(queue="no-such-queue-for-health")
    assert missing.status is HealthStatus.UNHEALTHY and missing.error_code == "queue_not_found"
    assert missing.reachable  # the broker answered
    body = missing.as_dict()
    assert body["status"] == "unhealthy" and body["circuit_state"] == "closed" and body["latency_ms"] >= 0


@pytest.mark.asyncio
async def test_an_unreachable_provider_is_unhealthy_and_the_probe_does_not_trip_the_breaker() -> None:
    server = TestServer(create_app(EmulatorSettings(admin=False, clock="manual", amqp=False)))
    await server.start_server()
    provider = await EmulatorProvider.connect(EmulatorConfig(url=str(server.make_url("/")).rstrip("/")))
    config = QueueConfig(circuit_breaker=CircuitBreakerPolicy(failure_threshold=1))
    async with QueueClient(provider, config) as client:
        assert (await client.health()).healthy
        await server.close()  # the emulator goes away
        for _ in range(2):
            report = await client.health(timeout=2)
            assert report.status is HealthStatus.UNHEALTHY and not report.reachable
            assert report.error_code == "connection_failed" and report.latency is None
        assert client.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_a_probe_that_takes_too_long_is_a_timeout() -> None:
    provider = FaultInjectingProvider(InMemoryProvider(InMemoryConfig()))
    provider.delay("get_queue", 0.5)
    async with QueueClient(provider) as client:
        report = await client.health(timeout=0.05)
        assert report.status is HealthStatus.UNHEALTHY and report.error_code == "timeout" and not report.reachable


@pytest.mark.asyncio
async def test_an_open_circuit_makes_a_reachable_provider_degraded() -> None:
    provider = FaultInjectingProvider(InMemoryProvider(InMemoryConfig()))
    config = QueueConfig(
        retry=RetryPolicy(max_attempts=1), circuit_breaker=CircuitBreakerPolicy(failure_threshold=2)
    )
    async with QueueClient(provider, config) as client:
        await client.create_queue("q")
        provider.fail("send_messages", ServiceUnavailableError("down"), times=2)
        for _ in range(2):
            with pytest.raises(QueueError):
                await client.send_message("q", Message(b"x"))
        report = await client.health()
        assert report.status is HealthStatus.DEGRADED and report.reachable
        assert report.circuit_state is CircuitState.OPEN and not report.healthy


@pytest.mark.asyncio
async def test_the_emulator_health_endpoint_reports_its_fronts() -> None:
    settings = EmulatorSettings(admin=False, clock="manual", amqp=True, amqp_port=0)
    async with TestClient(TestServer(create_app(settings))) as http:
        amqp_port = http.app[ENDPOINTS].amqp_port
        assert isinstance(amqp_port, int) and amqp_port > 0
        answer = await (await http.get("/health")).json()
        assert answer["status"] == "ok"
        assert answer["fronts"]["rest"]["status"] == "ok"
        assert answer["fronts"]["amqp"] == {"status": "ok", "port": amqp_port}
        url = str(http.make_url("/")).rstrip("/")
        async with QueueClient(await EmulatorProvider.connect(EmulatorConfig(url=url))) as client:
            report = await client.health()
            assert report.healthy and report.details["fronts"]["amqp"]["port"] == amqp_port
    async with TestClient(TestServer(create_app(EmulatorSettings(admin=False, clock="manual", amqp=False)))) as http:
        answer = await (await http.get("/health")).json()
        assert set(answer["fronts"]) == {"rest"}
