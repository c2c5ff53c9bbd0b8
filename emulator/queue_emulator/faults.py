"""Fault injection for tests: make the next calls of an operation fail, slow them down, or lose a lock.

The REST front asks :meth:`FaultInjector.before` right before it calls the engine; the AMQP front asks
:meth:`FaultInjector.take` and produces the fault in Service Bus's own forms (server busy, lock lost, a detached
link, a dropped connection, a late disposition). A lost lock is applied by each front through the engine's own
unlock path, so the message always comes back.

Besides queue_runtime error codes, two transport faults exist: ``link_detached`` (the AMQP link is detached with
``amqp:link:detach-forced``) and ``connection_dropped`` (the AMQP connection's socket is closed without a word).
Over REST both are a 503 ``service_unavailable``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from queue_runtime.errors import QueueError, error_class_for_code, error_from_wire

__all__ = ["CONNECTION_DROPPED", "LINK_DETACHED", "OPERATIONS", "TRANSPORT_FAULTS", "Fault", "FaultInjector"]

# Operation names a fault can target: one per REST operation that touches the engine.
OPERATIONS = frozenset(
    {
        "list_queues", "create_queue", "get_queue", "delete_queue", "send", "receive", "complete", "abandon",
        "dead_letter", "defer", "renew_lock", "peek", "schedule", "cancel_scheduled", "receive_deferred",
        "accept_session", "session_receive", "renew_session_lock", "get_session_state", "set_session_state",
        "release_session", "list_sessions", "purge", "resubmit_dead_letters", "delete_message",
        # publish/subscribe management
        "update_queue", "list_topics", "create_topic", "get_topic", "update_topic", "delete_topic",
        "list_subscriptions", "create_subscription", "get_subscription", "update_subscription",
        "delete_subscription", "list_rules", "create_rule", "get_rule", "update_rule", "delete_rule",
    }
)
NO_ERROR = "none"
LINK_DETACHED = "link_detached"
CONNECTION_DROPPED = "connection_dropped"
TRANSPORT_FAULTS = frozenset({LINK_DETACHED, CONNECTION_DROPPED})


@dataclass(slots=True)
class Fault:
    operation: str
    error: str
    remaining: int
    latency: float
    queue: str | None

    def as_dict(self) -> dict[str, object]:
        return {"operation": self.operation, "error": self.error, "remaining": self.remaining,
                "latency": self.latency, "queue": self.queue}


class FaultInjector:
    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lost_locks: set[str] = set()
        self.injected = 0

    def add(self, operation: str, error: str, count: int, latency: float, queue: str | None) -> Fault:
        fault = Fault(operation, error, count, latency, queue)
        self._faults.setdefault(operation, deque()).append(fault)
        return fault

    def lose_lock(self, lock_token: str) -> None:
        """The next settle or renewal with this token fails as lock-lost (and the message goes back)."""
        self._lost_locks.add(lock_token)

    def take_lost_lock(self, lock_token: str) -> bool:
        if lock_token in self._lost_locks:
            self._lost_locks.discard(lock_token)
            self.injected += 1
            return True
        return False

    def clear(self) -> None:
        self._faults.clear()
        self._lost_locks.clear()

    def active(self) -> list[Fault]:
        return [fault for faults in self._faults.values() for fault in faults]

    @property
    def lost_lock_count(self) -> int:
        return len(self._lost_locks)

    def _take(self, operation: str, queue: str | None) -> Fault | None:
        faults = self._faults.get(operation)
        if not faults:
            return None
        for fault in faults:
            if fault.queue is None or fault.queue == queue:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                    if not faults:
                        del self._faults[operation]
                return fault
        return None

    def take(self, operation: str, queue: str | None) -> Fault | None:
        """The fault that applies to this call, counted as injected; None (the common case) when none does."""
        if not self._faults:
            return None
        fault = self._take(operation, queue)
        if fault is not None:
            self.injected += 1
        return fault

    async def before(self, operation: str, queue: str | None) -> None:
        """Wait and/or raise as an injected fault says; does nothing when none applies (the common case)."""
        fault = self.take(operation, queue)
        if fault is None:
            return
        if fault.latency > 0:
            await asyncio.sleep(fault.latency)
        if fault.error != NO_ERROR:
            raise injected_error(fault.error, operation)


def injected_error(code: str, operation: str) -> QueueError:
    if code in TRANSPORT_FAULTS:
        code = "service_unavailable"
    cls = error_class_for_code(code)
    return error_from_wire(
        code,
        f"injected fault: {operation} failed with {code}",
        details={"operation": operation, "injected": True},
        transient=cls.transient_by_default,
    )
