"""Injected faults (the emulator's shared :class:`~queue_emulator.faults.FaultInjector`) in Service Bus's forms.

The same faults the REST front applies, produced the way Service Bus produces them on AMQP, so SDK code can be
tested on its retry and recovery paths:

- ``throttled`` / ``service_unavailable``: ``com.microsoft:server-busy`` with a retry-after hint in the
  description (the SDK raises ``ServiceBusServerBusyError`` and backs off);
- other error codes: the condition the engine error maps to (``fault_from_engine``);
- ``link_detached``: the link is detached with ``amqp:link:detach-forced``;
- ``connection_dropped``: the socket is closed without a close frame;
- a latency: the disposition (or management response, or delivery) goes out that much later;
- a lost lock (``/v1/_control/faults/lose-lock``): the settle or renewal fails with
  ``com.microsoft:message-lock-lost`` and the message returns to the queue through the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from queue_runtime.broker import Broker
from queue_runtime.errors import QueueError

from ...faults import CONNECTION_DROPPED, LINK_DETACHED, NO_ERROR, Fault, FaultInjector, injected_error
from ..protocol.errors import AmqpFault
from ..protocol.performatives import Error, ErrorCondition
from .addresses import DEAD_LETTER_SUFFIX
from .errors import ServiceBusCondition, fault_from_engine

__all__ = ["RETRY_AFTER_SECONDS", "InjectedFaults", "management_operation"]

T = TypeVar("T")

RETRY_AFTER_SECONDS = 2
_BUSY = {"throttled", "service_unavailable"}

# $management operation -> the fault operation name (the REST operation doing the same thing)
_MANAGEMENT = {
    "com.microsoft:renew-lock": "renew_lock",
    "com.microsoft:renew-session-lock": "renew_session_lock",
    "com.microsoft:get-session-state": "get_session_state",
    "com.microsoft:set-session-state": "set_session_state",
    "com.microsoft:peek-message": "peek",
    "com.microsoft:schedule-message": "schedule",
    "com.microsoft:cancel-scheduled-message": "cancel_scheduled",
    "com.microsoft:receive-by-sequence-number": "receive_deferred",
    "com.microsoft:get-message-sessions": "list_sessions",
}
_DISPOSITION = {"completed": "complete", "abandoned": "abandon", "defered": "defer", "deferred": "defer",
                "suspended": "dead_letter"}


def management_operation(operation: str, body: dict[str, Any]) -> str | None:
    """The fault operation a management request counts as."""
    if operation == "com.microsoft:update-disposition":
        status = body.get("disposition-status")
        status = status.decode() if isinstance(status, bytes) else status
        return _DISPOSITION.get(str(status))
    return _MANAGEMENT.get(operation)


def _queue(path: str) -> str:
    return path[: -len(DEAD_LETTER_SUFFIX)] if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()) else path


def amqp_fault(fault: Fault, operation: str) -> AmqpFault:
    """The error a fault stands for, as Service Bus words it."""
    if fault.error in _BUSY:
        return AmqpFault(
            ServiceBusCondition.SERVER_BUSY,
            f"The request was terminated because the entity is being throttled (injected fault on {operation}). "
            f"Please wait {RETRY_AFTER_SECONDS} seconds and try again.",
            503,
        )
    if fault.error == LINK_DETACHED:
        return AmqpFault(ErrorCondition.DETACH_FORCED, f"the link was detached (injected fault on {operation})", 503)
    return fault_from_engine(injected_error(fault.error, operation))


class InjectedFaults:
    """The AMQP front's view of the fault injector; with none, nothing is ever injected."""

    def __init__(self, injector: FaultInjector | None) -> None:
        self.injector = injector

    def take(self, operation: str, path: str) -> Fault | None:
        return None if self.injector is None else self.injector.take(operation, _queue(path))

    def lose_lock_if_injected(self, broker: Broker, path: str, token: str) -> None:
        """A lost-lock fault: the message goes back through the engine's unlock path, and the settle fails."""
        if self.injector is None or not self.injector.take_lost_lock(token):
            return
        try:
            broker.abandon(path, token)
        except QueueError:
            pass  # already gone: the settle would have failed the same way
        raise AmqpFault(ServiceBusCondition.MESSAGE_LOCK_LOST,
                        "The lock supplied is invalid. Either the lock expired, or the message has already been "
                        "removed from the queue (injected fault).", 410)

    @staticmethod
    def apply(fault: Fault, operation: str, link: Any, action: Callable[[], T],
              failed: Callable[[AmqpFault], T]) -> T | Awaitable[T]:
        """Run ``action`` as ``fault`` says: after its latency, or not at all (``failed(error)`` instead).

        ``link`` is the link the operation came on: a transport fault detaches it or drops its connection."""

        def outcome() -> T:
            if fault.error == CONNECTION_DROPPED:
                link.session.connection.drop()
                return failed(amqp_fault(fault, operation))
            if fault.error == LINK_DETACHED:
                error = amqp_fault(fault, operation)
                link.close(Error(condition=error.condition, description=error.description))
                return failed(error)
            if fault.error != NO_ERROR:
                return failed(amqp_fault(fault, operation))
            return action()

        if fault.latency <= 0:
            return outcome()

        async def later() -> T:
            await asyncio.sleep(fault.latency)
            return outcome()

        return later()
