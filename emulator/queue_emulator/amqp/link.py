"""Link endpoints: flow control (credit, delivery-count, drain) and delivery assembly, node-agnostic.

An :class:`IncomingLink` receives the peer's transfers (the peer attached as sender) and hands whole deliveries
to its node; an :class:`OutgoingLink` sends deliveries as the peer grants credit.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from .protocol.errors import AmqpFault
from .protocol.message import AmqpMessage
from .protocol.performatives import (
    Attach,
    DeliveryState,
    Disposition,
    Error,
    ErrorCondition,
    Flow,
    Rejected,
    Role,
    Transfer,
)

__all__ = [
    "IncomingLink", "Link", "LinkSession", "Outcome", "OutgoingDelivery", "OutgoingLink", "ReceivingNode",
    "SendingNode",
]

log = logging.getLogger("queue_emulator.amqp")

SERIAL_MASK = 0xFFFF_FFFF
INCOMING_CREDIT = 500


@dataclass(slots=True)
class OutgoingDelivery:
    """A delivery we sent and the peer has not settled yet."""

    link: OutgoingLink
    delivery_id: int
    lock_token: str | None


class LinkSession(Protocol):
    """What a link needs from the session it is attached to (the session module implements it; a link never
    imports its parent)."""

    links: dict[int, Link]
    connection: Any
    """The connection the session runs on: dialects key per-connection state by it (authorization, who holds a
    session lock)."""
    window_open: asyncio.Event
    """Set while the peer's session window has room for more transfers."""

    def send(self, performative: Any) -> None: ...

    def send_link_flow(self, link: Link, *, delivery_count: int, link_credit: int, drain: bool = False) -> None: ...

    def send_delivery(self, link: Link, tag: bytes, payload: bytes, *, settled: bool) -> int: ...

    def track(self, delivery: OutgoingDelivery) -> None: ...

    def detach_link(self, link: Link, error: Error | None) -> None: ...

    async def drain(self) -> None: ...


Outcome = DeliveryState | Awaitable[DeliveryState]
"""An outcome now, or later (a node that answers late: the disposition goes out when it resolves)."""


class ReceivingNode(Protocol):
    """What an incoming link delivers to: returns the outcome to settle the delivery with."""

    def deliver(self, link: IncomingLink, payload: bytes, message_format: int) -> Outcome: ...

    def detached(self, link: IncomingLink) -> None: ...


class SendingNode(Protocol):
    """What feeds an outgoing link."""

    def credit_granted(self, link: OutgoingLink) -> None: ...

    def settled(
        self, delivery: OutgoingDelivery, state: DeliveryState | None
    ) -> DeliveryState | Awaitable[DeliveryState | None] | None: ...

    def detached(self, link: OutgoingLink) -> None: ...


class Link:
    def __init__(self, session: LinkSession, attach: Attach, handle: int) -> None:
        self.session = session
        self.name = attach.name
        self.remote_handle = attach.handle
        self.handle = handle
        self.attach = attach
        self.properties: dict[Any, Any] = dict(attach.properties or {})
        self.detached = False
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("link %s task failed", self.name, exc_info=exc)
            if not self.detached:
                fault = exc if isinstance(exc, AmqpFault) else AmqpFault(ErrorCondition.INTERNAL_ERROR, str(exc))
                self.close(fault.to_error())

    def close(self, error: Error | None = None) -> None:
        """Detach from our side (closing) with an optional error."""
        if self.detached:
            return
        self.session.detach_link(self, error)

    def on_detached(self) -> None:
        self.detached = True
        for task in list(self.tasks):
            task.cancel()

    def on_flow(self, flow: Flow) -> None:
        raise NotImplementedError


class IncomingLink(Link):
    """The peer sends, we receive; credit is granted up front and topped up as deliveries arrive."""

    def __init__(self, session: LinkSession, attach: Attach, handle: int, node: ReceivingNode, max_message_size: int):
        super().__init__(session, attach, handle)
        self.node = node
        self.max_message_size = max_message_size
        self.delivery_count = attach.initial_delivery_count or 0
        self.credit = 0
        self._buffer = bytearray()
        self._oversize = 0
        self._current: Transfer | None = None

    def grant_credit(self) -> None:
        self.credit = INCOMING_CREDIT
        self.session.send_link_flow(self, delivery_count=self.delivery_count, link_credit=self.credit)

    def on_flow(self, flow: Flow) -> None:
        if flow.echo:
            self.session.send_link_flow(self, delivery_count=self.delivery_count, link_credit=self.credit)

    def on_transfer(self, transfer: Transfer, payload: bytes) -> None:
        if self._current is None:
            if transfer.delivery_id is None:
                raise AmqpFault(ErrorCondition.NOT_ALLOWED, "the first transfer of a delivery needs a delivery-id")
            self._current = transfer
        if transfer.aborted:
            self._current = None
            self._buffer.clear()
            self._oversize = 0
            return
        if self._oversize or len(self._buffer) + len(payload) > self.max_message_size:
            # Too large: keep counting, not buffering, and reject the delivery once it is complete (as Service
            # Bus does: the SDK raises MessageSizeExceededError and the link stays usable).
            self._oversize = (self._oversize or len(self._buffer)) + len(payload)
            self._buffer.clear()
        else:
            self._buffer += payload
        if transfer.more:
            return
        first, body = self._current, bytes(self._buffer)
        oversize, self._oversize = self._oversize, 0
        self._current = None
        self._buffer.clear()
        self.delivery_count = (self.delivery_count + 1) & SERIAL_MASK
        self.credit -= 1
        if oversize:
            state: Outcome = Rejected(error=Error(
                condition=ErrorCondition.MESSAGE_SIZE_EXCEEDED,
                description=f"The received message ({oversize} bytes) exceeds the limit ({self.max_message_size} "
                            "bytes) currently allowed on the link."))
        else:
            state = self.node.deliver(self, body, first.message_format or 0)
        settled = first.settled if transfer.settled is None else transfer.settled
        answer = not settled and first.delivery_id is not None and not self.detached
        if inspect.isawaitable(state):
            # Always run it (a pre-settled send is still stored); answer only an unsettled delivery.
            self.spawn(self._settle_later(first.delivery_id if answer else None, state))
        elif answer and first.delivery_id is not None:
            self.session.send(Disposition(role=Role.RECEIVER, first=first.delivery_id, settled=True, state=state))
        if self.credit < INCOMING_CREDIT // 2 and not self.detached:
            self.grant_credit()


    async def _settle_later(self, delivery_id: int | None, outcome: Awaitable[DeliveryState]) -> None:
        state = await outcome
        if delivery_id is not None and not self.detached:
            self.session.send(Disposition(role=Role.RECEIVER, first=delivery_id, settled=True, state=state))


class OutgoingLink(Link):
    """We send, the peer grants credit: ``credit`` deliveries may go out; drain consumes what is left."""

    def __init__(self, session: LinkSession, attach: Attach, handle: int, node: SendingNode, *, settled: bool) -> None:
        super().__init__(session, attach, handle)
        self.node = node
        self.settled_mode = settled
        self.delivery_count = 0
        self.credit = 0
        self.drain = False
        self._queued: list[AmqpMessage] = []
        self._tag = 0

    def on_flow(self, flow: Flow) -> None:
        peer_count = flow.delivery_count if flow.delivery_count is not None else 0
        if flow.link_credit is not None:
            self.credit = max((peer_count + flow.link_credit - self.delivery_count) & SERIAL_MASK, 0)
            if self.credit > 0x7FFF_FFFF:  # the peer's view is behind ours by more than its credit
                self.credit = 0
        self.drain = bool(flow.drain)
        self._flush_queued()
        if self.credit > 0:
            self.node.credit_granted(self)
        if self.drain and self.credit > 0:
            # Nothing more to send right now: consume the credit and tell the peer.
            self.delivery_count = (self.delivery_count + self.credit) & SERIAL_MASK
            self.credit = 0
            self.session.send_link_flow(self, delivery_count=self.delivery_count, link_credit=0, drain=True)
        elif flow.echo:
            self.session.send_link_flow(self, delivery_count=self.delivery_count, link_credit=self.credit)

    def send_message(self, message: AmqpMessage) -> None:
        """Send a settled reply (management and $cbs responses), queuing it until the peer grants credit."""
        self._queued.append(message)
        self._flush_queued()

    def _flush_queued(self) -> None:
        while self._queued and self.credit > 0 and not self.detached:
            message = self._queued.pop(0)
            self._tag += 1
            self.transfer(self._tag.to_bytes(8, "big"), message.encode(), settled=True)

    def transfer(self, tag: bytes, payload: bytes, *, settled: bool, lock_token: str | None = None) -> int:
        """Send one delivery, using one credit; returns its delivery id."""
        self.credit -= 1
        self.delivery_count = (self.delivery_count + 1) & SERIAL_MASK
        delivery_id = self.session.send_delivery(self, tag, payload, settled=settled)
        if not settled:
            self.session.track(OutgoingDelivery(self, delivery_id, lock_token))
        return delivery_id

