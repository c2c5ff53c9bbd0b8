"""Every HTTP route of the emulator in one table (like moto's ``urls.py``); the OpenAPI document is built from it.

``name`` is the operation id, the name stats count under and, for engine operations, the name faults target.
"""

from __future__ import annotations

from aiohttp import web

from . import control, dashboard, queues
from .openapi import serve_openapi
from .route import Route
from .wire import (
    AcceptSessionRequest,
    AcceptSessionResponse,
    AdvanceClockRequest,
    CancelScheduledRequest,
    ClockResponse,
    DeadLetterRequest,
    DeferResponse,
    FaultRequest,
    FaultsResponse,
    HealthResponse,
    InfoResponse,
    LockedUntilResponse,
    LoseLockRequest,
    MessagesResponse,
    OverviewResponse,
    PeekRequest,
    QueueListResponse,
    QueueOptionsIn,
    QueuePropertiesOut,
    ReceiveDeferredRequest,
    ReceiveRequest,
    ScheduleRequest,
    SendRequest,
    SendResponse,
    SessionListResponse,
    SessionReceiveRequest,
    SessionStateRequest,
    SessionStateResponse,
    SessionTokenRequest,
    SettleBatchRequest,
    SettleBatchResponse,
    SettleRequest,
    StatsResponse,
)

__all__ = ["ROUTES", "Route", "add_routes"]

Q = "/v1/queues/{queue}"
LOCK = Q + "/locks/{lock_token}"
SESSION = Q + "/sessions/{session_id}"
C = "/v1/_control"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/", dashboard.page, "dashboard", "web dashboard", tag="service", in_schema=False),
    Route("GET", "/v1/openapi.json", serve_openapi, "openapi", "this document", tag="service", in_schema=False),
    Route("GET", "/health", control.health, "health", "liveness", response=HealthResponse, tag="service"),
    Route("GET", "/v1/info", control.info, "info", "limits and clock mode", response=InfoResponse, tag="service"),
    # queues
    Route("GET", "/v1/queues", queues.list_queues, "list_queues", "every queue with its depths",
          response=QueueListResponse, tag="queues"),
    Route("PUT", Q, queues.create_queue, "create_queue", "create a queue", QueueOptionsIn, QueuePropertiesOut, 201,
          tag="queues"),
    Route("GET", Q, queues.get_queue, "get_queue", "a queue's options and depths", response=QueuePropertiesOut,
          tag="queues"),
    Route("DELETE", Q, queues.delete_queue, "delete_queue", "delete a queue and its messages", status=204,
          tag="queues"),
    # messages
    Route("POST", Q + "/messages", queues.send, "send", "send one or more messages (all or none)", SendRequest,
          SendResponse),
    Route("POST", Q + "/messages/receive", queues.receive, "receive", "receive with long polling", ReceiveRequest,
          MessagesResponse),
    Route("POST", Q + "/messages/peek", queues.peek, "peek", "read messages without locking", PeekRequest,
          MessagesResponse),
    Route("POST", Q + "/messages/schedule", queues.schedule, "schedule", "send messages that appear at a time",
          ScheduleRequest, SendResponse),
    Route("POST", Q + "/messages/cancel-scheduled", queues.cancel_scheduled, "cancel_scheduled",
          "cancel scheduled messages", CancelScheduledRequest, status=204),
    Route("POST", Q + "/messages/deferred", queues.receive_deferred, "receive_deferred",
          "receive deferred messages by sequence number", ReceiveDeferredRequest, MessagesResponse),
    # settlement
    Route("POST", Q + "/locks/complete", queues.complete_batch, "complete_batch", "complete many locks",
          SettleBatchRequest, SettleBatchResponse, tag="locks"),
    Route("POST", LOCK + "/complete", queues.complete, "complete", "complete (delete) a locked message",
          SettleRequest, status=204, tag="locks"),
    Route("POST", LOCK + "/abandon", queues.abandon, "abandon", "release the lock; the message is redelivered",
          SettleRequest, status=204, tag="locks"),
    Route("POST", LOCK + "/dead-letter", queues.dead_letter, "dead_letter", "move to the dead-letter queue",
          DeadLetterRequest, status=204, tag="locks"),
    Route("POST", LOCK + "/defer", queues.defer, "defer", "set aside for receive-by-sequence-number",
          SettleRequest, DeferResponse, tag="locks"),
    Route("POST", LOCK + "/renew", queues.renew_lock, "renew_lock", "extend the lock", SettleRequest,
          LockedUntilResponse, tag="locks"),
    # sessions
    Route("GET", Q + "/sessions", queues.list_sessions, "list_sessions", "sessions of a session queue",
          response=SessionListResponse, tag="sessions"),
    Route("POST", Q + "/sessions/accept", queues.accept_session, "accept_session",
          "lock a named session or wait for the next available one", AcceptSessionRequest, AcceptSessionResponse,
          tag="sessions"),
    Route("POST", SESSION + "/receive", queues.session_receive, "session_receive", "receive within a held session",
          SessionReceiveRequest, MessagesResponse, tag="sessions"),
    Route("POST", SESSION + "/renew", queues.renew_session_lock, "renew_session_lock", "extend the session lock",
          SessionTokenRequest, LockedUntilResponse, tag="sessions"),
    Route("GET", SESSION + "/state", queues.get_session_state, "get_session_state", "read session state",
          response=SessionStateResponse, query=("session_token",), tag="sessions"),
    Route("PUT", SESSION + "/state", queues.set_session_state, "set_session_state", "write session state",
          SessionStateRequest, status=204, tag="sessions"),
    Route("POST", SESSION + "/release", queues.release_session, "release_session",
          "release the session lock; unsettled messages come back", SessionTokenRequest, status=204,
          tag="sessions"),
    # control (tests)
    Route("POST", C + "/reset", control.reset, "reset", "forget everything (per-test isolation)", status=204,
          tag="control"),
    Route("GET", C + "/clock", control.get_clock, "get_clock", "clock mode and time", response=ClockResponse,
          tag="control"),
    Route("POST", C + "/clock/advance", control.advance_clock, "advance_clock", "move the manual clock forward",
          AdvanceClockRequest, ClockResponse, tag="control"),
    Route("GET", C + "/faults", control.list_faults, "list_faults", "pending faults", response=FaultsResponse,
          tag="control"),
    Route("POST", C + "/faults", control.add_fault, "add_fault", "fail or slow down the next calls",
          FaultRequest, FaultsResponse, 201, tag="control"),
    Route("DELETE", C + "/faults", control.clear_faults, "clear_faults", "remove every fault", status=204,
          tag="control"),
    Route("POST", C + "/faults/lose-lock", control.lose_lock, "lose_lock",
          "the next settle with this lock token fails as lock-lost", LoseLockRequest, status=204, tag="control"),
    Route("GET", C + "/stats", control.stats, "stats", "request and message counters", response=StatsResponse,
          tag="control"),
    Route("GET", C + "/overview", control.overview, "overview", "what the dashboard shows",
          response=OverviewResponse, tag="control"),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
