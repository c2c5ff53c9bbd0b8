"""Every HTTP route of the emulator in one table (like moto's ``urls.py``); the OpenAPI document is built from it.

``name`` is the operation id, the name stats count under and, for engine operations, the name faults target.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from queue_runtime import QueueOptions, RuleProperties

from . import control, dashboard, journal, queues, topics
from .openapi import serve_openapi
from .route import Route
from .topics_wire import (
    RuleListResponse,
    SubscriptionCreateRequest,
    SubscriptionListResponse,
    SubscriptionPropertiesOut,
    SubscriptionUpdateRequest,
    TopicListResponse,
    TopicPropertiesOut,
    TopicUpdateRequest,
)
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
    IdleResponse,
    InfoResponse,
    JournalResponse,
    LockedUntilResponse,
    LoseLockRequest,
    MessagesResponse,
    OverviewResponse,
    PeekRequest,
    PurgeRequest,
    PurgeResponse,
    QueueListResponse,
    QueueOptionsIn,
    QueuePropertiesOut,
    ReceiveDeferredRequest,
    ReceiveRequest,
    ResubmitRequest,
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
    WaitIdleRequest,
)

__all__ = ["ROUTES", "Route", "add_routes"]

Q = "/v1/queues/{queue}"
LOCK = Q + "/locks/{lock_token}"
SESSION = Q + "/sessions/{session_id}"
C = "/v1/_control"
T = "/v1/topics/{topic}"
S = T + "/subscriptions/{subscription}"
R = S + "/rules/{rule}"

_MAIN: tuple[Route, ...] = (
    Route("GET", "/", dashboard.page, "dashboard", "web dashboard", tag="service", in_schema=False),
    Route("GET", "/dashboard/{name}", dashboard.asset, "dashboard_asset", "the dashboard's CSS and script",
          tag="service", in_schema=False),
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
    Route("POST", Q + "/purge", queues.purge, "purge", "delete every message (or every dead letter) of a queue",
          PurgeRequest, PurgeResponse, tag="queues"),
    Route("PATCH", Q, topics.update_queue, "update_queue", "change a queue's settings (fields given only)",
          QueueOptions, QueuePropertiesOut, tag="queues"),
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
    Route("DELETE", Q + "/messages/{sequence_number}", queues.delete_message, "delete_message",
          "delete one message nobody holds (add ?dead_letter=true for a dead letter)", status=204,
          query=("dead_letter?",)),
    Route("POST", Q + "/dead-letters/resubmit", queues.resubmit_dead_letters, "resubmit_dead_letters",
          "move dead letters (named, or all) back to their queue as fresh messages", ResubmitRequest, SendResponse),
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
    # topics, subscriptions, rules
    Route("GET", "/v1/topics", topics.list_topics, "list_topics", "every topic", response=TopicListResponse,
          tag="topics"),
    Route("PUT", T, topics.create_topic, "create_topic", "create a topic", TopicUpdateRequest, TopicPropertiesOut,
          201, tag="topics"),
    Route("GET", T, topics.get_topic, "get_topic", "a topic's options and counts", response=TopicPropertiesOut,
          tag="topics"),
    Route("PATCH", T, topics.update_topic, "update_topic", "change a topic's settings (fields given only)",
          TopicUpdateRequest, TopicPropertiesOut, tag="topics"),
    Route("DELETE", T, topics.delete_topic, "delete_topic", "delete a topic, its subscriptions and their messages",
          status=204, tag="topics"),
    Route("POST", T + "/messages", queues.send, "publish", "publish messages to every matching subscription",
          SendRequest, SendResponse, tag="topics"),
    Route("POST", T + "/messages/schedule", queues.schedule, "publish_scheduled",
          "publish messages that fan out at a time", ScheduleRequest, SendResponse, tag="topics"),
    Route("POST", T + "/messages/cancel-scheduled", queues.cancel_scheduled, "cancel_scheduled_publish",
          "cancel scheduled messages of a topic", CancelScheduledRequest, status=204, tag="topics"),
    Route("GET", T + "/subscriptions", topics.list_subscriptions, "list_subscriptions",
          "a topic's subscriptions with their depths", response=SubscriptionListResponse, tag="subscriptions"),
    Route("PUT", S, topics.create_subscription, "create_subscription",
          "create a subscription (with its first rule, else $Default)", SubscriptionCreateRequest,
          SubscriptionPropertiesOut, 201, tag="subscriptions"),
    Route("GET", S, topics.get_subscription, "get_subscription", "a subscription's options and depths",
          response=SubscriptionPropertiesOut, tag="subscriptions"),
    Route("PATCH", S, topics.update_subscription, "update_subscription",
          "change a subscription's settings (fields given only)", SubscriptionUpdateRequest,
          SubscriptionPropertiesOut, tag="subscriptions"),
    Route("DELETE", S, topics.delete_subscription, "delete_subscription",
          "delete a subscription and its messages", status=204, tag="subscriptions"),
    Route("GET", S + "/rules", topics.list_rules, "list_rules", "a subscription's rules",
          response=RuleListResponse, tag="rules"),
    Route("PUT", R, topics.create_rule, "create_rule", "add a rule (the filter is compiled now)", RuleProperties,
          RuleProperties, 201, tag="rules"),
    Route("GET", R, topics.get_rule, "get_rule", "one rule", response=RuleProperties, tag="rules"),
    Route("PATCH", R, topics.update_rule, "update_rule", "replace a rule's filter and action", RuleProperties,
          RuleProperties, tag="rules"),
    Route("DELETE", R, topics.delete_rule, "delete_rule", "remove a rule", status=204, tag="rules"),
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
    Route("GET", C + "/journal", journal.query_journal, "query_journal",
          "operations recorded by the engine, oldest first", response=JournalResponse, query=journal.JOURNAL_QUERY,
          tag="journal"),
    Route("GET", C + "/journal/follow", journal.follow_journal, "follow_journal",
          "the journal live: one JSON entry per line (NDJSON) as operations happen", query=journal.JOURNAL_QUERY,
          tag="journal", streams="application/x-ndjson"),
    Route("POST", C + "/wait-idle", journal.wait_idle, "wait_idle",
          "wait until entities have nothing receivable, locked or due, for a quiet time", WaitIdleRequest,
          IdleResponse, tag="journal"),
    Route("GET", C + "/overview", control.overview, "overview", "what the dashboard shows",
          response=OverviewResponse, tag="control"),
)


# A subscription is received from, settled on and has sessions exactly like a queue: the same handlers serve
# /v1/topics/{topic}/subscriptions/{subscription}/... (sending goes to the topic, so those routes are not copied).
_NOT_FOR_SUBSCRIPTIONS = {"send", "schedule", "cancel_scheduled"}


def _for_subscriptions(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    return tuple(
        dataclasses.replace(
            route,
            path=S + route.path[len(Q):],
            name=f"subscription_{route.name}",
            summary=f"{route.summary} (on a subscription)",
            tag="subscriptions",
        )
        for route in routes
        if route.path.startswith(Q + "/") and route.name not in _NOT_FOR_SUBSCRIPTIONS
    )


ROUTES: tuple[Route, ...] = _MAIN + _for_subscriptions(_MAIN)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        # A sequence number is digits: ``/messages/{sequence_number}`` must not also claim ``/messages/peek``
        # (or a 405 on those would advertise DELETE).
        path = route.path.replace("{sequence_number}", r"{sequence_number:\d+}")
        app.router.add_route(route.method, path, route.handler, name=route.name)
