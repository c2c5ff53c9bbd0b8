"""A session: channel pairing, transfer windows, handles and delivery ids (transport section 2.5)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from .link import IncomingLink, Link, OutgoingDelivery
from .protocol.errors import AmqpFault
from .protocol.performatives import (
    Attach,
    Begin,
    DeliveryState,
    Detach,
    Disposition,
    End,
    Error,
    ErrorCondition,
    Flow,
    Performative,
    Role,
    Transfer,
)

__all__ = ["INCOMING_WINDOW", "Session", "SessionConnection"]

log = logging.getLogger("queue_emulator.amqp")

INCOMING_WINDOW = 2048
OUTGOING_WINDOW = 0x7FFF_FFFF
HANDLE_MAX = 0xFFFF
MASK = 0xFFFF_FFFF


class SessionConnection(Protocol):
    """What a session needs from its connection (the connection module implements it; a session never imports
    its parent)."""

    def send(self, performative: Performative | None, *, channel: int = 0) -> None: ...

    def send_transfer(self, transfer: Transfer, payload: bytes, *, channel: int) -> int: ...

    async def drain(self) -> None: ...


class Session:
    def __init__(self, connection: SessionConnection, channel: int, begin: Begin, remote_channel: int) -> None:
        self.connection = connection
        self.channel = channel
        self.remote_channel = remote_channel
        self.next_outgoing_id = 0
        self.remote_incoming_window = begin.incoming_window
        self.next_incoming_id = begin.next_outgoing_id
        self.incoming_window = INCOMING_WINDOW
        self.next_delivery_id = 0
        self.links: dict[int, Link] = {}  # by the peer's handle
        self._handles: set[int] = set()  # ours in use
        self._free_handles: list[int] = []  # ours released, for reuse
        self._next_handle = 0
        self._unsettled: dict[int, OutgoingDelivery] = {}
        self.window_open = asyncio.Event()
        self.window_open.set()
        self.ended = False

    # ------------------------------------------------------------------ output

    def send(self, performative: Performative) -> None:
        self.connection.send(performative, channel=self.channel)

    async def drain(self) -> None:
        await self.connection.drain()

    def _session_flow(self, **link_fields: Any) -> Flow:
        return Flow(next_incoming_id=self.next_incoming_id, incoming_window=self.incoming_window,
                    next_outgoing_id=self.next_outgoing_id, outgoing_window=OUTGOING_WINDOW, **link_fields)

    def send_link_flow(self, link: Link, *, delivery_count: int, link_credit: int, drain: bool = False) -> None:
        self.send(self._session_flow(handle=link.handle, delivery_count=delivery_count, link_credit=link_credit,
                                     drain=drain or None))

    def send_delivery(self, link: Link, tag: bytes, payload: bytes, *, settled: bool) -> int:
        delivery_id = self.next_delivery_id
        self.next_delivery_id = (delivery_id + 1) & MASK
        transfer = Transfer(handle=link.handle, delivery_id=delivery_id, delivery_tag=tag, message_format=0,
                            settled=settled, more=False)
        frames = self.connection.send_transfer(transfer, payload, channel=self.channel)
        self.next_outgoing_id = (self.next_outgoing_id + frames) & MASK
        self.remote_incoming_window -= frames
        if self.remote_incoming_window <= 0:
            self.window_open.clear()
        return delivery_id

    def track(self, delivery: OutgoingDelivery) -> None:
        self._unsettled[delivery.delivery_id] = delivery

    # ------------------------------------------------------------------ links

    def allocate_handle(self) -> int:
        """O(1): reuse a freed handle if there is one, else the next never-used one (a scan from 0 made opening
        20,000 links quadratic)."""
        if self._free_handles:
            handle = self._free_handles.pop()
        else:
            handle = self._next_handle
            if handle > HANDLE_MAX:
                raise AmqpFault(ErrorCondition.RESOURCE_LIMIT_EXCEEDED, "too many links on this session")
            self._next_handle += 1
        self._handles.add(handle)
        return handle

    def _free_handle(self, handle: int) -> None:
        if handle in self._handles:
            self._handles.remove(handle)
            self._free_handles.append(handle)

    def add_link(self, link: Link) -> None:
        if link.remote_handle in self.links:
            raise AmqpFault(ErrorCondition.HANDLE_IN_USE, f"handle {link.remote_handle} is already attached")
        self.links[link.remote_handle] = link

    def refuse_attach(self, attach: Attach, error: Error) -> None:
        """Answer an attach we cannot honour: attach with a null terminus, then a closing detach."""
        handle = self.allocate_handle()
        role = Role.SENDER if attach.role == Role.RECEIVER else Role.RECEIVER
        self.send(Attach(name=attach.name, handle=handle, role=role, source=None if role == Role.SENDER else
                         attach.source, target=None if role == Role.RECEIVER else attach.target,
                         initial_delivery_count=0 if role == Role.SENDER else None))
        self.send(Detach(handle=handle, closed=True, error=error))
        self._free_handle(handle)

    def detach_link(self, link: Link, error: Error | None) -> None:
        """Detach a link from our side (the peer answers with its own detach, which we then ignore)."""
        if link.detached:
            return
        self._forget(link)
        self.send(Detach(handle=link.handle, closed=True, error=error))

    def _forget(self, link: Link) -> None:
        self.links.pop(link.remote_handle, None)
        self._free_handle(link.handle)
        unsettled = [d for d, item in self._unsettled.items() if item.link is link]
        link.on_detached()
        node = getattr(link, "node", None)
        for delivery_id in unsettled:
            # Its receiver detached or its socket dropped: nobody can settle this delivery any more, so hand it
            # back now (as released: the delivery does not count) instead of leaving it locked until expiry.
            delivery = self._unsettled.pop(delivery_id)
            if node is not None:
                node.settled(delivery, None)
        if node is not None:
            node.detached(link)

    def on_detach(self, detach: Detach) -> None:
        link = self.links.get(detach.handle)
        if link is None:
            return  # the answer to a detach we started
        self._forget(link)
        self.send(Detach(handle=link.handle, closed=True))

    # ------------------------------------------------------------------ input

    def on_flow(self, flow: Flow) -> None:
        next_incoming = flow.next_incoming_id if flow.next_incoming_id is not None else 0
        self.remote_incoming_window = (next_incoming + flow.incoming_window - self.next_outgoing_id) & MASK
        if self.remote_incoming_window > 0x7FFF_FFFF:
            self.remote_incoming_window = 0
        if self.remote_incoming_window > 0:
            self.window_open.set()
        if flow.handle is None:
            if flow.echo:
                self.send(self._session_flow())
            return
        link = self.links.get(flow.handle)
        if link is None:
            raise AmqpFault(ErrorCondition.UNATTACHED_HANDLE, f"flow for unattached handle {flow.handle}")
        link.on_flow(flow)

    def on_transfer(self, transfer: Transfer, payload: bytes) -> None:
        self.next_incoming_id = (self.next_incoming_id + 1) & MASK
        self.incoming_window -= 1
        if self.incoming_window < 0:
            raise AmqpFault(ErrorCondition.WINDOW_VIOLATION, "transfer beyond the session's incoming window")
        link = self.links.get(transfer.handle)
        if link is None:
            raise AmqpFault(ErrorCondition.UNATTACHED_HANDLE, f"transfer on unattached handle {transfer.handle}")
        if not isinstance(link, IncomingLink):
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, "transfer on a link where the emulator is the sender")
        link.on_transfer(transfer, payload)
        if self.incoming_window < INCOMING_WINDOW // 2:
            self.incoming_window = INCOMING_WINDOW
            self.send(self._session_flow())

    def on_disposition(self, disposition: Disposition) -> None:
        if disposition.role != Role.RECEIVER:
            return  # we never leave our incoming deliveries unsettled, so there is nothing to update
        last = disposition.last if disposition.last is not None else disposition.first
        if last - disposition.first > len(self._unsettled):
            ids = [d for d in list(self._unsettled) if disposition.first <= d <= last]
        else:
            ids = [d for d in range(disposition.first, last + 1) if d in self._unsettled]
        for delivery_id in ids:
            delivery = self._unsettled.get(delivery_id)
            if delivery is None:
                continue
            if disposition.settled or disposition.state is not None:
                del self._unsettled[delivery_id]
            state = disposition.state if isinstance(disposition.state, DeliveryState) else None
            echo = delivery.link.node.settled(delivery, state)
            if inspect.isawaitable(echo):
                delivery.link.spawn(self._echo_later(delivery.link, delivery_id, echo, disposition.settled))
            elif not disposition.settled:
                self.send(Disposition(role=Role.SENDER, first=delivery_id, settled=True, state=echo))

    async def _echo_later(self, link: Link, delivery_id: int, echo: Awaitable[DeliveryState | None],
                          peer_settled: bool | None) -> None:
        """A node that settles late (an injected delayed disposition): echo when it is done."""
        state = await echo
        if not peer_settled and not link.detached and not self.ended:
            self.send(Disposition(role=Role.SENDER, first=delivery_id, settled=True, state=state))

    def on_end(self) -> None:
        self.abort()
        self.send(End())

    def abort(self) -> None:
        """The session is gone (end, close or a dropped socket): detach every link locally."""
        self.ended = True
        for link in list(self.links.values()):
            self._forget(link)
        self.window_open.set()
