"""Retry delays and the circuit breaker: the two things the seed promised and never built."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from enum import StrEnum

from ._config import CircuitBreakerPolicy, RetryPolicy
from .errors import CircuitOpenError

__all__ = ["CircuitBreaker", "CircuitState", "backoff_delay"]


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped, with full jitter."""
    cap: float = min(policy.max_delay.total_seconds(), policy.base_delay.total_seconds() * 2.0 ** (attempt - 1))
    if not policy.jitter:
        return cap
    return float((rng or random).uniform(0.0, cap))


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed: count consecutive transient failures; at the threshold, open. Open: fail fast with
    ``CircuitOpenError`` until ``recovery_time`` has passed, then half-open. Half-open: let a limited number of
    trial calls through; a success closes, a transient failure opens again for another period, and anything else
    (a permanent error, a cancellation, an unexpected exception) gives the trial slot back with ``release_trial``, so
    half-open always resolves and a breaker can never stay stuck.

    ``monotonic`` is injectable so tests move time by hand instead of sleeping.
    """

    def __init__(self, policy: CircuitBreakerPolicy, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._monotonic = monotonic
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0
        self.on_change: Callable[[CircuitState], None] | None = None

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._remaining() <= 0:
            self._set(CircuitState.HALF_OPEN)
        return self._state

    @property
    def is_open(self) -> bool:
        return self.policy.enabled and self.state is CircuitState.OPEN

    def _remaining(self) -> float:
        return self._opened_at + self.policy.recovery_time.total_seconds() - self._monotonic()

    def _set(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            self._trials = 0
            if self.on_change is not None:
                self.on_change(state)

    def before_call(self, operation: str) -> bool:
        """Raise ``CircuitOpenError`` or let the call through; ``True`` when the call took a half-open trial slot."""
        if not self.policy.enabled:
            return False
        state = self.state
        if state is CircuitState.OPEN:
            raise CircuitOpenError(
                f"circuit breaker is open after {self.policy.failure_threshold} consecutive transient failures; "
                f"'{operation}' not attempted, next try in {self._remaining():.1f}s",
                retry_after=max(self._remaining(), 0.0),
                details={"operation": operation},
            )
        if state is CircuitState.HALF_OPEN:
            if self._trials >= self.policy.half_open_max_calls:
                raise CircuitOpenError(
                    f"circuit breaker is half-open and its trial call is in progress; '{operation}' not attempted",
                    details={"operation": operation},
                )
            self._trials += 1
            return True
        return False

    def release_trial(self) -> None:
        """A trial call ended without saying anything about the service (permanent error, cancellation): free its slot
        so the next call can try."""
        if self._state is CircuitState.HALF_OPEN and self._trials > 0:
            self._trials -= 1

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not CircuitState.CLOSED:
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        """Count a transient failure (permanent errors say nothing about the service's health)."""
        if not self.policy.enabled:
            return
        self._failures += 1
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.policy.failure_threshold:
            self._opened_at = self._monotonic()
            self._failures = 0
            self._set(CircuitState.OPEN)
            self._trials = 0

    def reset(self) -> None:
        self._failures = 0
        self._set(CircuitState.CLOSED)
