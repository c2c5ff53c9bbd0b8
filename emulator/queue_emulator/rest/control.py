"""Control endpoints for tests (``/v1/_control``) and the service endpoints (health, info, dashboard data)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from queue_runtime.broker import ManualClock, MessageState
from queue_runtime.errors import UnsupportedOperationError, ValidationError

from .. import __version__
from ._http import encode, no_content, parse, path_of
from .keys import BROKER, ENDPOINTS, ENTITIES, FAULTS, SETTINGS, STATS
from .topics_wire import SubscriptionOverview, SubscriptionPropertiesOut, TopicOverview, TopicPropertiesOut
from .wire import (
    AdvanceClockRequest,
    ClockResponse,
    DeadLetterSummary,
    FaultOut,
    FaultRequest,
    FaultsResponse,
    FrontHealth,
    HealthResponse,
    InfoResponse,
    LoseLockRequest,
    OverviewResponse,
    QueueOverview,
    QueuePropertiesOut,
    SessionInfo,
    StatsResponse,
)

__all__ = [
    "add_fault", "advance_clock", "clear_faults", "get_clock", "health", "info", "list_faults", "lose_lock",
    "overview", "reset", "stats",
]

_DASHBOARD_DEAD_LETTERS = 20


def _now(request: web.Request) -> datetime:
    return datetime.fromtimestamp(request.app[BROKER].clock.now(), UTC)


async def health(request: web.Request) -> web.Response:
    response = HealthResponse()
    amqp_port = request.app[ENDPOINTS].amqp_port
    if amqp_port is not None:
        response.fronts["amqp"] = FrontHealth(port=amqp_port)
    return encode(response)


async def info(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    endpoints = request.app[ENDPOINTS]
    amqp_port = endpoints.amqp_port
    return encode(InfoResponse(
        version=__version__,
        clock="manual" if request.app[BROKER].clock.manual else "system",
        now=_now(request),
        auto_create=request.app[BROKER].auto_create,
        max_message_size=request.app[BROKER].limits.max_message_size,
        max_request_size=settings.max_request_size,
        max_batch_size=settings.max_batch_size,
        max_queues=request.app[BROKER].limits.max_queues,
        journal_size=request.app[BROKER].journal.size if request.app[BROKER].journal.enabled else 0,
        amqp_port=amqp_port,
        servicebus_connection_string=None if amqp_port is None else settings.servicebus_connection_string(amqp_port),
        amqps_port=endpoints.amqps_port,
        amqp_websocket_port=endpoints.amqp_websocket_port,
        ca_path=None if endpoints.ca_path is None else str(endpoints.ca_path),
        admin_port=endpoints.admin_port,
        admin_tls_port=endpoints.admin_tls_port,
        servicebus_admin_connection_string=None if endpoints.admin_tls_port is None
        else settings.servicebus_admin_connection_string(endpoints.admin_tls_port),
    ))


async def reset(request: web.Request) -> web.Response:
    """Forget every queue and message, clear faults and counters, then re-create the entity file's queues."""
    broker = request.app[BROKER]
    broker.reset()
    request.app[FAULTS].clear()
    request.app[STATS].clear()
    request.app[ENTITIES].apply(broker)
    return no_content()


async def get_clock(request: web.Request) -> web.Response:
    return encode(ClockResponse(manual=request.app[BROKER].clock.manual, now=_now(request)))


CLOCK_LIMIT = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


async def advance_clock(request: web.Request) -> web.Response:
    body = await parse(request, AdvanceClockRequest)
    clock = request.app[BROKER].clock
    if not isinstance(clock, ManualClock):
        raise UnsupportedOperationError(
            "the emulator runs on the system clock; start it with --clock=manual to move time by hand",
            details={"operation": "advance_clock"},
        )
    if clock.now() + body.seconds > CLOCK_LIMIT:
        # Past it, lock expiries and TTLs (up to a century) would name instants no datetime can hold.
        raise ValidationError("seconds", "the manual clock cannot be moved past the year 9000")
    clock.advance(body.seconds)  # subscribers (the waiter) apply due events and wake long polls
    return encode(ClockResponse(manual=True, now=_now(request)))


def _faults_response(request: web.Request) -> FaultsResponse:
    faults = request.app[FAULTS]
    return FaultsResponse(
        faults=[FaultOut(**fault.as_dict()) for fault in faults.active()],
        lost_locks=faults.lost_lock_count,
    )


async def list_faults(request: web.Request) -> web.Response:
    return encode(_faults_response(request))


async def add_fault(request: web.Request) -> web.Response:
    body = await parse(request, FaultRequest)  # the model knows the operations and error codes
    request.app[FAULTS].add(body.operation, body.error, body.count, body.latency, body.queue)
    return encode(_faults_response(request), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return no_content()


async def lose_lock(request: web.Request) -> web.Response:
    body = await parse(request, LoseLockRequest)
    request.app[FAULTS].lose_lock(body.lock_token)
    return no_content()


async def stats(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    queues = [broker.get_queue(name) for name in broker.queue_names()]
    return encode(StatsResponse(
        uptime_seconds=request.app[STATS].uptime,
        queues=len(queues),
        messages=sum(q.total_count for q in queues),
        dead_letters=sum(q.dead_letter_count for q in queues),
        requests=dict(request.app[STATS].requests),
        errors=dict(request.app[STATS].errors),
        faults_injected=request.app[FAULTS].injected,
    ))


async def overview(request: web.Request) -> web.Response:
    """What the dashboard shows: every queue's depths, its sessions and the head of its dead-letter queue."""
    broker = request.app[BROKER]
    queues = []
    for name in broker.queue_names():
        properties = broker.get_queue(name)
        sessions = broker.sessions(name) if properties.options.requires_session else []
        dead = broker.peek(path_of(name, True), 1, _DASHBOARD_DEAD_LETTERS)
        queues.append(QueueOverview(
            properties=QueuePropertiesOut.of(properties),
            sessions=[SessionInfo.from_snapshot(s) for s in sessions],
            dead_letters=[
                DeadLetterSummary(
                    sequence_number=m.sequence_number,
                    message_id=m.message_id,
                    reason=m.dead_letter_reason,
                    description=m.dead_letter_description,
                    enqueued_time=datetime.fromtimestamp(m.enqueued_time, UTC),
                    delivery_count=m.delivery_count,
                    size=m.size,
                )
                for m in dead
                if m.state is not MessageState.SCHEDULED
            ],
            dead_letters_total=properties.dead_letter_count,
        ))
    topics = [
        TopicOverview(
            properties=TopicPropertiesOut.of(broker.get_topic(topic)),
            subscriptions=[
                SubscriptionOverview(
                    properties=SubscriptionPropertiesOut.of(broker.get_subscription(topic, sub)),
                    rules=broker.rules(topic, sub),
                )
                for sub in broker.subscription_names(topic)
            ],
        )
        for topic in broker.topic_names()
    ]
    clock = "manual" if broker.clock.manual else "system"
    return encode(OverviewResponse(now=_now(request), clock=clock, queues=queues, topics=topics))
