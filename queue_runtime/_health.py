"""``await client.health()``: is the provider reachable, how long does a round trip take, what state is the
circuit breaker in. Built for liveness and readiness probes (see docs/health.md).

The probe goes straight to the provider (``QueueProvider.ping``) with its own timeout: no retries, and it does not
count towards the circuit breaker, so probing never opens or closes the breaker and an open breaker does not hide
whether the service is back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ._identifiers import QueueName
from ._resilience import CircuitState
from .errors import OperationTimeoutError, QueueError, ValidationError

if TYPE_CHECKING:
    from ._client import QueueClient

__all__ = ["HealthReport", "HealthStatus", "check_health"]


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    """Reachable, and the circuit breaker is closed."""
    DEGRADED = "degraded"
    """Reachable, but the circuit breaker is open or half-open: calls fail fast until it closes again."""
    UNHEALTHY = "unhealthy"
    """The provider did not answer, refused (credentials), or the named queue does not exist."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The result of one probe. ``as_dict()`` gives a JSON-ready form for a probe endpoint."""

    status: HealthStatus
    provider: str
    reachable: bool
    latency: timedelta | None
    circuit_state: CircuitState
    checked_at: datetime
    queue: str | None = None
    error_code: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status is HealthStatus.HEALTHY

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "provider": self.provider,
            "reachable": self.reachable,
            "latency_ms": None if self.latency is None else round(self.latency.total_seconds() * 1000, 3),
            "circuit_state": self.circuit_state.value,
            "checked_at": self.checked_at.isoformat(),
            "queue": self.queue,
            "error_code": self.error_code,
            "error": self.error,
            "details": self.details,
        }


async def check_health(
    client: QueueClient, queue: str | None = None, timeout: timedelta | float = timedelta(seconds=5)
) -> HealthReport:
    name = QueueName(queue) if queue is not None else None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    if seconds <= 0:
        raise ValidationError("timeout", "must be positive")
    provider = client.provider
    checked_at = datetime.now(UTC)
    started = time.perf_counter()
    error: QueueError | None = None
    details: dict[str, Any] = {}
    try:
        async with asyncio.timeout(seconds):
            details = await provider.ping(name)
    except TimeoutError:
        error = OperationTimeoutError(f"no answer within {seconds:.1f}s")
        error_code = error.code
    except QueueError as exc:
        error = exc
        error_code = exc.code
    latency = timedelta(seconds=time.perf_counter() - started)
    circuit = client.circuit_breaker.state
    if error is not None:
        # A refusal (authentication, a missing queue) is an answer: reachable, but not healthy.
        reachable = not error.transient
        return HealthReport(
            status=HealthStatus.UNHEALTHY,
            provider=provider.capabilities.provider,
            reachable=reachable,
            latency=latency if reachable else None,
            circuit_state=circuit,
            checked_at=checked_at,
            queue=name,
            error_code=error_code,
            error=error.message,
        )
    status = HealthStatus.HEALTHY if circuit is CircuitState.CLOSED else HealthStatus.DEGRADED
    return HealthReport(
        status=status,
        provider=provider.capabilities.provider,
        reachable=True,
        latency=latency,
        circuit_state=circuit,
        checked_at=checked_at,
        queue=name,
        details=details,
    )
