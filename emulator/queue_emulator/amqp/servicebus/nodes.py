"""Service Bus nodes behind links: queues (send and receive), ``$management`` and ``$cbs``."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from queue_runtime.broker import Broker, BrokerMessage, SessionLease
from queue_runtime.broker.waiting import BrokerWaiter
from queue_runtime.errors import QueueError

from ...faults import Fault
from ..link import IncomingLink, Outcome, OutgoingDelivery, OutgoingLink
from ..protocol.codec import AmqpDecodeError
from ..protocol.errors import AmqpFault
from ..protocol.message import AmqpMessage
from ..protocol.performatives import (
    Accepted,
    DeliveryState,
    Error,
    ErrorCondition,
    Modified,
    Rejected,
    Released,
)
from .cbs import Authorizations, CbsNode
from .errors import ServiceBusCondition, fault_from_engine
from .injected import InjectedFaults, management_operation
from .management import ManagementNode, SessionRegistry, required_right, settle
from .mapping import (
    BATCH_MESSAGE_FORMAT,
    UNENCODABLE,
    from_amqp,
    lock_clock_offset,
    tag_for_lock_token,
    to_amqp,
    unpack_batch,
)

__all__ = ["CbsTarget", "ManagementTarget", "QueueSource", "QueueTarget", "ReplySource"]

log = logging.getLogger("queue_emulator.amqp")

DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"
# How long one wait for messages lasts before the pump looks at its credit again.
_PUMP_WAIT = 30.0


def _rejected(fault: AmqpFault) -> Rejected:
    return Rejected(error=fault.to_error())


class QueueTarget:
    """A sender link to a queue: each delivery (or batch) becomes engine messages."""

    def __init__(self, broker: Broker, path: str, faults: InjectedFaults | None = None) -> None:
        self.broker = broker
        self.path = path
        self.faults = faults or InjectedFaults(None)

    def deliver(self, link: IncomingLink, payload: bytes, message_format: int) -> Outcome:
        fault = self.faults.take("send", self.path)
        if fault is None:
            return self._deliver(payload, message_format)
        return self.faults.apply(fault, "send", link, lambda: self._deliver(payload, message_format), _rejected)

    def _deliver(self, payload: bytes, message_format: int) -> DeliveryState:
        try:
            if message_format == BATCH_MESSAGE_FORMAT:
                messages = [from_amqp(m) for m in unpack_batch(payload)]
            else:
                messages = [from_amqp(AmqpMessage.decode(payload))]
        except AmqpDecodeError as exc:
            return _rejected(AmqpFault(ErrorCondition.DECODE_ERROR, f"undecodable message: {exc}"))
        try:
            self.broker.send(self.path, messages)
        except QueueError as exc:
            return _rejected(fault_from_engine(exc))
        return Accepted()

    def detached(self, link: IncomingLink) -> None:
        pass


class _RequestTarget:
    """A request link (``$management``, ``$cbs``): answers go out on the reply link of the same session."""

    reply_kind = ""

    def __init__(self, path: str) -> None:
        self.path = path

    def answer(self, request: AmqpMessage, link: IncomingLink) -> AmqpMessage | Awaitable[AmqpMessage]:
        raise NotImplementedError

    def deliver(self, link: IncomingLink, payload: bytes, message_format: int) -> DeliveryState:
        try:
            request = AmqpMessage.decode(payload)
        except AmqpDecodeError as exc:
            return _rejected(AmqpFault(ErrorCondition.DECODE_ERROR, f"undecodable request: {exc}"))
        reply_to = request.properties.reply_to if request.properties else None
        reply_link = _find_reply_link(link, self.reply_kind, self.path, reply_to)
        if reply_link is None:
            return _rejected(AmqpFault(ErrorCondition.PRECONDITION_FAILED, "attach a reply link before sending"))
        answer = self.answer(request, link)
        if inspect.isawaitable(answer):  # an injected latency: the response goes out later
            link.spawn(_reply_later(reply_link, answer))
        else:
            reply_link.send_message(answer)
        return Accepted()

    def detached(self, link: IncomingLink) -> None:
        pass


async def _reply_later(reply_link: OutgoingLink, answer: Awaitable[AmqpMessage]) -> None:
    message = await answer
    if not reply_link.detached:
        reply_link.send_message(message)


def _find_reply_link(link: IncomingLink, kind: str, path: str, reply_to: str | None) -> OutgoingLink | None:
    candidates = [
        other
        for other in link.session.links.values()
        if isinstance(other, OutgoingLink)
        and isinstance(other.node, ReplySource)
        and other.node.kind == kind
        and other.node.path.lower() == path.lower()
    ]
    for candidate in candidates:
        source = candidate.attach.source
        target = candidate.attach.target
        addresses = {getattr(source, "address", None), getattr(target, "address", None)}
        if reply_to is not None and reply_to in addresses:
            return candidate
    return candidates[0] if candidates else None


class ManagementTarget(_RequestTarget):
    reply_kind = "management"

    def __init__(self, node: ManagementNode, path: str, auth: Authorizations,
                 faults: InjectedFaults | None = None) -> None:
        super().__init__(path)
        self.node = node
        self.auth = auth
        self.faults = faults or InjectedFaults(None)

    def answer(self, request: AmqpMessage, link: IncomingLink) -> AmqpMessage | Awaitable[AmqpMessage]:
        connection = link.session.connection
        fault: list[tuple[str, Fault]] = []

        def before(operation: str, body: dict[str, Any]) -> None:
            self.auth.require(connection, self.path, required_right(operation), peer=_peer(connection))
            name = management_operation(operation, body)
            if name is None:
                return
            if name in ("complete", "abandon", "defer", "dead_letter", "renew_lock") and "lock-tokens" in body:
                for token in self.node.lock_tokens(body):
                    self.faults.lose_lock_if_injected(self.node.broker, self.path, token)
            found = self.faults.take(name, self.path)
            if found is not None:
                fault.append((name, found))

        probe = self.node.check(self.path, request, before)
        if probe is not None:
            return probe  # refused (claims, a lost lock): answered at once, nothing done
        if not fault:
            return self.node.handle(self.path, request, requester=connection)
        name, found = fault[0]
        return self.faults.apply(found, name, link,
                                 lambda: self.node.handle(self.path, request, requester=connection),
                                 lambda error: self.node.error_response(request, error))


class CbsTarget(_RequestTarget):
    reply_kind = "cbs"

    def __init__(self, node: CbsNode, auth: Authorizations) -> None:
        super().__init__("")
        self.node = node
        self.auth = auth

    def answer(self, request: AmqpMessage, link: IncomingLink) -> AmqpMessage:
        connection = link.session.connection
        reply, grant = self.node.handle(request, peer=_peer(connection))
        if grant is not None:
            self.auth.add(connection, grant)
        return reply


def _peer(connection: object) -> str:
    return str(getattr(connection, "peer", "?"))


class ReplySource:
    """The response side of ``$management`` / ``$cbs``: replies are queued by the request target."""

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path

    def credit_granted(self, link: OutgoingLink) -> None:
        pass

    def settled(self, delivery: OutgoingDelivery, state: DeliveryState | None) -> DeliveryState | None:
        return state

    def detached(self, link: OutgoingLink) -> None:
        pass




class QueueSource:
    """A receiver link on a queue, its dead-letter queue, or one session of a session queue.

    Credit drives delivery: whenever the peer has credit, messages are taken from the engine (peek-lock or
    receive-and-delete) and sent; when there are none, the pump long-polls the engine through the waiter.
    """

    def __init__(
        self,
        broker: Broker,
        waiter: BrokerWaiter,
        registry: SessionRegistry,
        path: str,
        *,
        delete: bool,
        lease: SessionLease | None = None,
        faults: InjectedFaults | None = None,
        holder: object = None,
    ) -> None:
        self.faults = faults or InjectedFaults(None)
        self.broker = broker
        self.waiter = waiter
        self.registry = registry
        self.path = path
        self.delete = delete
        self.lease = lease
        self._pumping = False
        self._tag = 0
        if lease is not None:
            registry.hold(path, lease.session_id, lease.lock_token, holder)

    # -- delivery

    def _take(self, link: OutgoingLink) -> list[BrokerMessage] | None:
        if link.credit <= 0 or link.detached:
            return None
        count = min(link.credit, 100)
        if self.lease is not None:
            return self.broker.session_receive(self.path, self.lease.session_id, self.lease.lock_token, count,
                                               delete=self.delete)
        return self.broker.receive(self.path, count, delete=self.delete)

    def _send(self, link: OutgoingLink, messages: list[BrokerMessage]) -> None:
        offset = lock_clock_offset(self.broker)
        for message in messages:
            try:
                payload = to_amqp(message, with_lock=not self.delete, lock_offset=offset, transfer=True).encode()
            except UNENCODABLE as exc:
                # Stored by another front with a value AMQP cannot carry: set it aside (dead-lettered with the
                # reason) and deliver the others, instead of breaking the link for every message behind it.
                self.broker.set_aside_unencodable(
                    self.path, message, f"the AMQP front cannot encode this message: {type(exc).__name__}: {exc}"
                )
                continue
            if self.delete or message.lock_token is None:
                self._tag += 1
                link.transfer(self._tag.to_bytes(8, "big"), payload, settled=True)
            else:
                link.transfer(tag_for_lock_token(message.lock_token), payload, settled=False,
                              lock_token=message.lock_token)

    def _deliver_now(self, link: OutgoingLink) -> bool:
        try:
            messages = self._take(link)
        except QueueError as exc:
            link.close(fault_from_engine(exc).to_error())
            return False
        if messages:
            self._send(link, messages)
            return True
        return False

    def credit_granted(self, link: OutgoingLink) -> None:
        operation = "session_receive" if self.lease is not None else "receive"
        fault = self.faults.take(operation, self.path)
        if fault is not None:
            def fail(error: AmqpFault) -> None:
                if not link.detached:
                    link.close(error.to_error())

            result = self.faults.apply(fault, operation, link, lambda: self._credit_granted(link), fail)
            if inspect.isawaitable(result):
                link.spawn(result)
            return
        self._credit_granted(link)

    def _credit_granted(self, link: OutgoingLink) -> None:
        if link.detached:
            return
        self._deliver_now(link)
        if link.credit > 0 and not self._pumping and not link.detached:
            self._pumping = True
            link.spawn(self._pump(link))

    async def _pump(self, link: OutgoingLink) -> None:
        try:
            while link.credit > 0 and not link.detached and not self.waiter.closing:
                await link.session.window_open.wait()
                try:
                    messages = await self.waiter.wait_for(self.path, lambda: self._take(link), _PUMP_WAIT)
                except QueueError as exc:
                    link.close(fault_from_engine(exc).to_error())
                    return
                if messages:
                    self._send(link, messages)
                    await link.session.drain()
        finally:
            self._pumping = False

    # -- settlement

    def settled(
        self, delivery: OutgoingDelivery, state: DeliveryState | None
    ) -> DeliveryState | Awaitable[DeliveryState | None] | None:
        token = delivery.lock_token
        if token is None:
            return state
        operation = _SETTLE_OPERATION.get(type(state)) if state is not None else None
        if isinstance(state, Modified) and state.undeliverable_here:
            operation = "defer"
        if operation is None:
            return self._settle(token, state)
        try:
            self.faults.lose_lock_if_injected(self.broker, self.path, token)
        except AmqpFault as lost:
            return _rejected(lost)
        injected = self.faults.take(operation, self.path)
        if injected is None:
            return self._settle(token, state)
        return self.faults.apply(injected, operation, delivery.link, lambda: self._settle(token, state), _rejected)

    def _settle(self, token: str, state: DeliveryState | None) -> DeliveryState | None:
        try:
            if isinstance(state, Accepted):
                settle(self.broker, self.path, token, "complete")
            elif isinstance(state, Rejected):
                reason, description = _dead_letter_details(state.error)
                settle(self.broker, self.path, token, "dead-letter", reason=reason, description=description)
                return Rejected()
            elif isinstance(state, Modified):
                changes = _properties(state.message_annotations)
                outcome = "defer" if state.undeliverable_here else "abandon"
                settle(self.broker, self.path, token, outcome, properties=changes)
            else:
                settle(self.broker, self.path, token, "release")
                return state if isinstance(state, Released) else Released()
        except QueueError as exc:
            return _rejected(fault_from_engine(exc))
        return state

    def detached(self, link: OutgoingLink) -> None:
        lease, self.lease = self.lease, None
        if lease is None:
            return
        self.registry.drop(self.path, lease.session_id, lease.lock_token)
        try:
            self.broker.release_session(self.path, lease.session_id, lease.lock_token)
        except QueueError:
            pass  # already lost: nothing to release


_SETTLE_OPERATION: dict[type, str] = {Accepted: "complete", Rejected: "dead_letter", Modified: "abandon"}


def _dead_letter_details(error: Error | Any) -> tuple[str | None, str | None]:
    if not isinstance(error, Error):
        return None, None
    info = error.info or {}
    reason = info.get(DEAD_LETTER_REASON)
    description = info.get(DEAD_LETTER_DESCRIPTION, error.description)
    return (None if reason is None else str(reason)), (None if description is None else str(description))


def _properties(annotations: dict[Any, Any] | None) -> dict[str, Any] | None:
    if not annotations:
        return None
    return {str(key): value for key, value in annotations.items()}


async def accept_session(
    broker: Broker, waiter: BrokerWaiter, path: str, session_id: str | None, timeout: float
) -> SessionLease:
    """Lock the named session, or wait up to ``timeout`` seconds for any session with messages."""
    try:
        if session_id is not None:
            lease = broker.accept_session(path, session_id)
        else:
            lease = await waiter.wait_for(path, lambda: broker.accept_session(path, None), timeout)
    except QueueError as exc:
        raise fault_from_engine(exc) from exc
    if lease is None:
        raise AmqpFault(ServiceBusCondition.TIMEOUT, f"no session of '{path}' became available within {timeout:g} s",
                        408)
    return lease

