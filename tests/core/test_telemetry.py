"""Spans, metrics and logs, read back through the OpenTelemetry SDK's in-memory exporters."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from queue_runtime import InMemoryConfig, Message, QueueClient, QueueConfig
from queue_runtime.errors import QueueNotFoundError
from queue_runtime.providers.memory import InMemoryProvider


@pytest.mark.asyncio
async def test_operations_produce_spans_metrics_and_logs_without_bodies(caplog: pytest.LogCaptureFixture) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = QueueClient(
        InMemoryProvider(InMemoryConfig()),
        QueueConfig(),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    caplog.set_level(logging.DEBUG, logger="queue_runtime")
    await client.create_queue("orders")
    message_id = await client.send_message("orders", Message(b"secret-body-content", message_id="m-1"))
    received = await client.receive_message("orders", 0)
    assert received is not None
    await client.complete_message(received)
    with pytest.raises(QueueNotFoundError):
        await client.send_message("missing", Message(b"x"))

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {"queue.create_queue", "queue.send", "queue.receive", "queue.complete"} <= set(spans)
    send = spans["queue.send"]  # the last send span is the failed one
    assert send.kind is SpanKind.PRODUCER
    assert send.status.status_code is StatusCode.ERROR and send.attributes["error.type"] == "queue_not_found"
    ok_sends = [s for s in exporter.get_finished_spans() if s.name == "queue.send" and s.status.is_ok]
    assert ok_sends[0].attributes["messaging.destination.name"] == "orders"
    assert list(ok_sends[0].attributes["messaging.message.id"]) == [message_id]
    receive = spans["queue.receive"]
    assert receive.kind is SpanKind.CONSUMER and receive.attributes["messaging.batch.message_count"] == 1

    points = {}
    for metric in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.data.data_points:
            points[(metric.name, tuple(sorted(point.attributes.items())))] = point
    counted = {
        (dict(labels)["operation"], dict(labels)["outcome"]): p.value
        for (name, labels), p in points.items()
        if name == "queue_runtime.operations"
    }
    assert counted[("send", "success")] == 1 and counted[("send", "error")] == 1
    assert counted[("complete", "success")] == 1
    assert any(name == "queue_runtime.operation.duration" for name, _ in points)

    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "queue operation send succeeded" in text
    assert "secret-body-content" not in text
    failed = [r for r in caplog.records if getattr(r, "error_code", None) == "queue_not_found"]
    assert failed and failed[0].queue_name == "missing"
    await client.aclose()
