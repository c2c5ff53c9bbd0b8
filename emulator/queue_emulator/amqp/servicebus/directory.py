"""Which node a Service Bus link address names, and attaching it: entities, dead-letter queues, ``$cbs``,
``$management``, and session receivers (``com.microsoft:session-filter``), which wait for a session first.

This is the transport's ``NodeDirectory`` for the Service Bus dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from queue_runtime.broker import Broker
from queue_runtime.broker.journal import set_client
from queue_runtime.broker.waiting import BrokerWaiter
from queue_runtime.errors import QueueError

from ...faults import NO_ERROR, FaultInjector
from ..connection import Connection
from ..protocol.errors import AmqpFault
from ..protocol.performatives import Attach, ErrorCondition, Role, SenderSettleMode, Source
from ..protocol.types import Long, Symbol
from ..session import Session
from .addresses import check_entity, parse_address
from .cbs import Authorizations, CbsNode
from .errors import fault_from_engine
from .injected import InjectedFaults, amqp_fault
from .management import ManagementNode, SessionRegistry
from .mapping import DOTNET_EPOCH_TICKS, lock_clock_offset
from .nodes import CbsTarget, ManagementTarget, QueueSource, QueueTarget, ReplySource, accept_session

__all__ = ["ServiceBusNodes"]

SESSION_FILTER = Symbol("com.microsoft:session-filter")
LOCKED_UNTIL_UTC = Symbol("com.microsoft:locked-until-utc")
LINK_TIMEOUT = Symbol("com.microsoft:timeout")
DEFAULT_SESSION_WAIT = 60.0
# $cbs and $management requests (a schedule request carries whole messages) may exceed one message's size.
_REQUEST_LINK_SIZE = 4 * 1024 * 1024


class ServiceBusNodes:
    """The nodes of one emulated namespace, shared by every connection of the server."""

    def __init__(self, broker: Broker, waiter: BrokerWaiter, cbs: CbsNode,
                 faults: FaultInjector | None = None) -> None:
        self.faults = InjectedFaults(faults)
        self.broker = broker
        self.waiter = waiter
        self.cbs = cbs
        self.auth = Authorizations(cbs.verifier)
        self.sessions = SessionRegistry()
        self.management = ManagementNode(broker, self.sessions)

    @property
    def _max_delivery_size(self) -> int:
        return self.broker.limits.max_message_size * 2

    def attach(self, connection: Connection, session: Session, attach: Attach) -> None:
        # Attaches run in the connection's task: from here on, what this connection does is journaled as its own.
        set_client(f"amqp:{connection.peer}")
        peer_is_sender = attach.role == Role.SENDER
        terminus = attach.target if peer_is_sender else attach.source
        address = parse_address(getattr(terminus, "address", None))
        try:
            if address is None:
                raise AmqpFault(ErrorCondition.NOT_FOUND, f"no node at {getattr(terminus, 'address', None)!r}")
            if address.kind != "cbs":
                # As on Service Bus: no link to an entity without a valid token for it (a rejected one counts
                # for nothing). Senders need Send, receivers Listen; a $management link needs either.
                if address.kind == "management":
                    if not (self.auth.allows(connection, address.path, "Listen")
                            or self.auth.allows(connection, address.path, "Send")):
                        self.auth.require(connection, address.path, "Listen", peer=connection.peer)
                else:
                    self.auth.require(connection, address.path, "Send" if peer_is_sender else "Listen",
                                      peer=connection.peer)
                check_entity(self.broker, address, sending=peer_is_sender)
        except AmqpFault as fault:
            session.refuse_attach(attach, fault.to_error())
            return

        if peer_is_sender:
            # An entity's sender link advertises the entity's maximum message size, as Service Bus does (262,144
            # bytes on Standard): the SDK checks it before sending and raises MessageSizeExceededError.
            size = self.broker.limits.max_message_size
            if address.kind == "cbs":
                node: Any = CbsTarget(self.cbs, self.auth)
                size = _REQUEST_LINK_SIZE
            elif address.kind == "management":
                node = ManagementTarget(self.management, address.path, self.auth, self.faults)
                size = max(self._max_delivery_size, _REQUEST_LINK_SIZE)
            else:
                node = QueueTarget(self.broker, address.path, self.faults)
            connection.attach_incoming(session, attach, node, max_message_size=size)
            return
        if address.kind in ("cbs", "management"):
            reply = ReplySource(address.kind, address.path)
            connection.attach_outgoing(session, attach, reply, settled=True, max_message_size=self._max_delivery_size)
            return
        delete = attach.snd_settle_mode == SenderSettleMode.SETTLED
        source = attach.source
        filters = dict(source.filters or {}) if isinstance(source, Source) else {}
        if SESSION_FILTER not in filters:
            try:
                self.broker.check_receiver(address.path)
            except QueueError as exc:  # Service Bus refuses a non-session receiver on a session queue at attach
                session.refuse_attach(attach, fault_from_engine(exc).to_error())
                return
            queue = QueueSource(self.broker, self.waiter, self.sessions, address.path, delete=delete,
                                faults=self.faults)
            connection.attach_outgoing(session, attach, queue, settled=delete, max_message_size=self._max_delivery_size)
            return
        requested = filters[SESSION_FILTER]
        session_id = None if requested is None else str(requested)
        wait_ms = self._link_timeout(attach)
        connection.spawn(self._attach_session(connection, session, attach, address.path, session_id, wait_ms, delete))

    @staticmethod
    def _link_timeout(attach: Attach) -> float:
        value = (attach.properties or {}).get(LINK_TIMEOUT)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value / 1000
        return DEFAULT_SESSION_WAIT

    async def _attach_session(self, connection: Connection, session: Session, attach: Attach, path: str,
                              session_id: str | None, timeout: float, delete: bool) -> None:
        try:
            injected = self.faults.take("accept_session", path)
            if injected is not None:
                if injected.latency > 0:
                    await asyncio.sleep(injected.latency)
                if injected.error != NO_ERROR:
                    raise amqp_fault(injected, "accept_session")
            lease = await accept_session(self.broker, self.waiter, path, session_id, timeout)
        except AmqpFault as fault:
            if not session.ended:
                session.refuse_attach(attach, fault.to_error())
            return
        if session.ended or not connection.is_open:
            with contextlib.suppress(Exception):
                self.broker.release_session(path, lease.session_id, lease.lock_token)
            return
        source = attach.source
        assert isinstance(source, Source)
        filters = dict(source.filters or {})
        filters[SESSION_FILTER] = lease.session_id
        echoed = Source(address=source.address, durable=source.durable, expiry_policy=source.expiry_policy,
                        timeout=source.timeout, filters=filters, default_outcome=source.default_outcome,
                        outcomes=source.outcomes, capabilities=source.capabilities)
        ticks = DOTNET_EPOCH_TICKS + round((lease.locked_until + lock_clock_offset(self.broker)) * 10_000_000)
        node = QueueSource(self.broker, self.waiter, self.sessions, path, delete=delete, lease=lease,
                           faults=self.faults, holder=connection)
        connection.attach_outgoing(session, attach, node, settled=delete, source=echoed,
                                   properties={LOCKED_UNTIL_UTC: Long(ticks)},
                                   max_message_size=self._max_delivery_size)
        await connection.drain()


