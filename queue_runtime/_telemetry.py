"""Structured logs, OpenTelemetry spans and metrics for every client operation.

Uses only ``opentelemetry-api``: a no-op until the application installs an SDK (or passes providers). Spans are
named ``queue.<operation>``; metrics are ``queue_runtime.operations`` (counter, labels operation, outcome,
provider, error code) and ``queue_runtime.operation.duration`` (histogram, seconds). Bodies and secrets never
appear; message ids, session ids, queue names and delivery counts do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .errors import QueueError

__all__ = ["OperationRecord", "Telemetry", "logger"]

_package = "queue_runtime"

logger = logging.getLogger(_package)

_KINDS = {
    "send": SpanKind.PRODUCER,
    "schedule": SpanKind.PRODUCER,
    "receive": SpanKind.CONSUMER,
    "session.receive": SpanKind.CONSUMER,
}


@dataclass
class OperationRecord:
    """Lets the caller add attributes found during the call (message ids, counts)."""

    attributes: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0


class Telemetry:
    def __init__(
        self,
        provider_name: str,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.provider_name = provider_name
        self._tracer = trace.get_tracer(_package, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_package, meter_provider=meter_provider)
        self._operations = meter.create_counter(
            "queue_runtime.operations", unit="{operation}", description="Client operations by outcome"
        )
        self._duration = meter.create_histogram(
            "queue_runtime.operation.duration", unit="s", description="Client operation duration"
        )
        self._retries = meter.create_counter(
            "queue_runtime.retries", unit="{retry}", description="Retries after transient errors"
        )
        self._encryption = meter.create_counter(
            "queue_runtime.encryption.messages",
            unit="{message}",
            description="Bodies sealed on send and opened on receive by a client with encryption, by outcome",
        )

    def encryption(self, direction: str, *, encrypted: bool, outcome: str = "ok") -> None:
        """``direction`` is ``seal`` or ``open``; ``encrypted`` says whether the body was (or is) an envelope."""
        self._encryption.add(
            1,
            {"provider": self.provider_name, "direction": direction, "encrypted": encrypted, "outcome": outcome},
        )

    def retried(self, operation: str, error: QueueError, attempt: int, delay: float, queue: str | None) -> None:
        self._retries.add(1, {"operation": operation, "provider": self.provider_name, "error.code": error.code})
        logger.warning(
            "queue operation %s failed with %s (attempt %d), retrying in %.3fs",
            operation,
            error.code,
            attempt,
            delay,
            extra={"queue_operation": operation, "queue_name": queue, "error_code": error.code, "attempt": attempt},
        )

    @contextmanager
    def operation(self, operation: str, queue: str | None, **attributes: Any) -> Iterator[OperationRecord]:
        record = OperationRecord(
            attributes={
                "messaging.system": self.provider_name,
                "messaging.operation.name": operation,
                **({"messaging.destination.name": str(queue)} if queue is not None else {}),
                **{k: v for k, v in attributes.items() if v is not None},
            }
        )
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"queue.{operation}", kind=_KINDS.get(operation, SpanKind.CLIENT), record_exception=False,
            set_status_on_exception=False,
        ) as span:
            outcome = "success"
            code = ""
            try:
                yield record
            except QueueError as exc:
                outcome, code = "error", exc.code
                span.set_status(Status(StatusCode.ERROR, exc.code))
                span.set_attribute("error.type", exc.code)
                span.record_exception(exc)
                raise
            except BaseException as exc:
                outcome, code = "error", type(exc).__name__
                span.set_status(Status(StatusCode.ERROR, code))
                span.set_attribute("error.type", code)
                raise
            finally:
                elapsed = time.perf_counter() - started
                if span.is_recording():
                    span.set_attributes({k: _attr(v) for k, v in record.attributes.items()})
                    if record.attempts > 1:
                        span.set_attribute("queue_runtime.attempts", record.attempts)
                labels = {"operation": operation, "outcome": outcome, "provider": self.provider_name}
                if code:
                    labels["error.code"] = code
                self._operations.add(1, labels)
                self._duration.record(elapsed, {"operation": operation, "provider": self.provider_name})
                level = logging.DEBUG if outcome == "success" else logging.INFO
                if logger.isEnabledFor(level):
                    self._log(operation, queue, outcome, code, elapsed, record)

    def _log(
        self, operation: str, queue: str | None, outcome: str, code: str, elapsed: float, record: OperationRecord
    ) -> None:
        extra = {
            "queue_operation": operation,
            "queue_name": str(queue) if queue is not None else None,
            "outcome": outcome,
            "error_code": code or None,
            "duration_ms": round(elapsed * 1000, 3),
            **{k.replace(".", "_"): v for k, v in record.attributes.items() if k.startswith("queue")},
        }
        if outcome == "success":
            logger.debug("queue operation %s succeeded", operation, extra=extra)
        else:
            logger.info("queue operation %s failed: %s", operation, code, extra=extra)


def _attr(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)
