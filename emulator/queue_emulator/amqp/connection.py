"""One AMQP connection: protocol headers, SASL, open/close, heartbeats and idle timeout, frame dispatch.

Frames are handled one at a time in the read loop; sending never awaits (``writer.write`` buffers), so frames of
one transfer are never interleaved with others. Only credit-driven delivery and session accept run as tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from .link import IncomingLink, OutgoingLink, ReceivingNode, SendingNode
from .protocol.errors import AmqpFault
from .protocol.frames import (
    AMQP_HEADER,
    HEARTBEAT,
    NO_MAX_FRAME_SIZE,
    SASL_HEADER,
    Frame,
    FrameReader,
    FramingError,
    ProtocolHeader,
    encode_frame,
    encode_transfer_frames,
)
from .protocol.performatives import (
    Attach,
    Begin,
    Close,
    Detach,
    Disposition,
    End,
    Error,
    ErrorCondition,
    Flow,
    Open,
    Performative,
    ReceiverSettleMode,
    Role,
    SaslCode,
    SaslInit,
    SaslMechanisms,
    SaslOutcome,
    SaslPerformative,
    SenderSettleMode,
    Source,
    Transfer,
)
from .protocol.sasl import SASL_MECHANISMS, SaslPolicy
from .session import Session

__all__ = ["ByteWriter", "Connection", "NodeDirectory", "ServerContext", "StreamByteWriter"]

log = logging.getLogger("queue_emulator.amqp")

CHANNEL_MAX = 255


class NodeDirectory(Protocol):
    """The dialect behind the transport: what a link address names, and the node that serves it.

    ``attach`` answers the peer's attach, with ``connection.attach_incoming``/``attach_outgoing`` or
    ``session.refuse_attach``, now or later (``connection.spawn``). The Service Bus layer implements it; the
    transport never imports a dialect."""

    def attach(self, connection: Connection, session: Session, attach: Attach) -> None: ...


class ByteWriter(Protocol):
    """The writing half of a connection's byte stream: an ``asyncio.StreamWriter`` or a WebSocket bridge."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def is_closing(self) -> bool: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...

    def abort(self) -> None:
        """Close at once, without flushing (a dropped connection)."""
        ...


class StreamByteWriter:
    """An ``asyncio.StreamWriter`` as a :class:`ByteWriter`."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    def is_closing(self) -> bool:
        return self._writer.is_closing()

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        await self._writer.wait_closed()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._writer.get_extra_info(name, default)

    def abort(self) -> None:
        self._writer.transport.abort()


@dataclass(slots=True)
class ServerContext:
    """What every connection of one server shares."""

    sasl: SaslPolicy
    nodes: NodeDirectory
    max_frame_size: int
    idle_timeout: float | None
    container_id: str
    handshake_timeout: float = 30.0
    """Seconds a new connection gets to finish its protocol headers, SASL and open; then it is dropped."""


# Frames one connection handles before it lets the event loop run the others.
_FRAMES_PER_TURN = 64


class _Closed(Exception):
    """The connection is finished; leave the read loop."""


class Connection:
    def __init__(self, context: ServerContext, reader: asyncio.StreamReader, writer: ByteWriter) -> None:
        self.ctx = context
        self._reader = reader
        self._writer = writer
        self._frames = FrameReader()
        self._state = "header"  # header -> sasl -> header -> open -> opened -> closed
        self._sasl_done = False
        self.peer_max_frame_size = 512
        self._sessions: dict[int, Session] = {}  # by the peer's channel
        self._ended: set[int] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.sasl_identity: str | None = None
        """The user a SASL PLAIN login authenticated (None for ANONYMOUS)."""
        self._handshake_deadline = asyncio.get_running_loop().time() + context.handshake_timeout
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    # ------------------------------------------------------------------ output

    def send(self, performative: Performative | SaslPerformative | None, *, channel: int = 0) -> None:
        if self._writer.is_closing():
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("AMQP frame -> %s ch=%d %r", self.peer, channel, performative)
        self._writer.write(encode_frame(performative, channel=channel))

    def send_transfer(self, transfer: Transfer, payload: bytes, *, channel: int) -> int:
        frames = encode_transfer_frames(transfer, payload, max_frame_size=self.peer_max_frame_size, channel=channel)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("AMQP frame -> %s ch=%d %r (+%d bytes, %d frames)", self.peer, channel, transfer,
                      len(payload), len(frames))
        if not self._writer.is_closing():
            self._writer.write(b"".join(frames))
        return len(frames)

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    # ------------------------------------------------------------------ lifecycle

    async def serve(self) -> None:
        try:
            while self._state != "closed":
                data = await self._read()
                if not data:
                    break
                for count, item in enumerate(self._frames.iter_feed(data), 1):
                    self._handle(item)
                    if self._state == "closed":
                        break
                    if count % _FRAMES_PER_TURN == 0:
                        await asyncio.sleep(0)
                await self.drain()
                # A read returns at once while the peer keeps the socket full: give the other connections (and the
                # REST front) their turn, or one flooding client stalls the whole event loop.
                await asyncio.sleep(0)
        except FramingError as exc:
            log.info("AMQP connection %s: framing error: %s", self.peer, exc)
            self._close_with(Error(condition=exc.condition, description=exc.description))
        except AmqpFault as fault:
            log.info("AMQP connection %s closed: %s", self.peer, fault)
            self._close_with(fault.to_error())
        except TimeoutError:
            log.info("AMQP connection %s idle for too long", self.peer)
            self._close_with(Error(condition=ErrorCondition.RESOURCE_LIMIT_EXCEEDED,
                                   description="local-idle-timeout expired"))
        except _Closed:
            pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # a bug must not take the server down: close this connection only
            log.exception("AMQP connection %s failed", self.peer)
            self._close_with(Error(condition=ErrorCondition.INTERNAL_ERROR, description=str(exc)[:200]))
        finally:
            await self._shutdown()

    async def _read(self) -> bytes:
        if self._state != "opened":
            # One deadline for the whole handshake, not one per read: a peer trickling a byte at a time, or never
            # sending its open, is dropped instead of being held forever.
            try:
                async with asyncio.timeout_at(self._handshake_deadline):
                    return await self._reader.read(65536)
            except TimeoutError:
                log.info("AMQP connection %s did not finish its handshake within %.0f s", self.peer,
                         self.ctx.handshake_timeout)
                raise _Closed() from None
        if self.ctx.idle_timeout is None:
            return await self._reader.read(65536)
        async with asyncio.timeout(self.ctx.idle_timeout):
            return await self._reader.read(65536)

    def _close_with(self, error: Error | None) -> None:
        if self._state == "opened" or self._state == "open":
            if self._state == "open":
                self._send_open()
            self.send(Close(error=error))
        self._state = "closed"

    async def _shutdown(self) -> None:
        self._state = "closed"
        for session in list(self._sessions.values()):
            session.abort()
        self._sessions.clear()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.drain()
            self._writer.close()
            await self._writer.wait_closed()

    def drop(self) -> None:
        """Close the socket without a word (an injected dropped connection): the peer sees the TCP connection end."""
        self._state = "closed"
        self._writer.abort()
        self._reader.feed_eof()

    def close_now(self) -> None:
        """Server shutdown: close with connection:forced."""
        if self._state == "opened":
            self.send(Close(error=Error(condition=ErrorCondition.CONNECTION_FORCED, description="server shutdown")))
        self._state = "closed"
        self._reader.feed_eof()

    # ------------------------------------------------------------------ dispatch

    def _handle(self, item: Frame | ProtocolHeader) -> None:
        if isinstance(item, ProtocolHeader):
            self._on_header(item)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("AMQP frame <- %s ch=%d %r (+%d bytes)", self.peer, item.channel, item.performative,
                      len(item.payload))
        performative = item.performative
        if self._state == "sasl":
            if not isinstance(performative, SaslInit):
                raise _Closed()
            self._on_sasl_init(performative)
            return
        if performative is None:
            return  # heartbeat
        if isinstance(performative, SaslPerformative):
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, "SASL frame outside SASL negotiation")
        if self._state == "open":
            if not isinstance(performative, Open):
                raise AmqpFault(ErrorCondition.NOT_ALLOWED, f"expected open, got {type(performative).__name__}")
            self._on_open(performative)
            return
        if isinstance(performative, Close):
            self.send(Close())
            self._state = "closed"
            return
        if isinstance(performative, Open):
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, "open received twice")
        if isinstance(performative, Begin):
            self._on_begin(item.channel, performative)
            return
        session = self._sessions.get(item.channel)
        if session is None:
            if item.channel in self._ended:
                return  # the SDK may still detach links of a session it has just ended
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, f"frame on channel {item.channel} without a session")
        if isinstance(performative, Transfer):
            session.on_transfer(performative, item.payload)
        elif isinstance(performative, Flow):
            session.on_flow(performative)
        elif isinstance(performative, Disposition):
            session.on_disposition(performative)
        elif isinstance(performative, Attach):
            self._on_attach(session, performative)
        elif isinstance(performative, Detach):
            session.on_detach(performative)
        elif isinstance(performative, End):
            del self._sessions[item.channel]
            self._ended.add(item.channel)
            session.on_end()

    def _on_header(self, header: ProtocolHeader) -> None:
        if self._state != "header":
            raise _Closed()
        if header.is_sasl and not self._sasl_done and header.is_supported_version:
            self._writer.write(SASL_HEADER)
            self.send(SaslMechanisms(sasl_server_mechanisms=list(SASL_MECHANISMS)))
            self._state = "sasl"
            return
        if header.is_amqp and header.is_supported_version:
            self._writer.write(AMQP_HEADER)
            self._state = "open"
            return
        # Unsupported protocol or version: answer with what we speak and hang up (transport section 2.2).
        self._writer.write(AMQP_HEADER if self._sasl_done else SASL_HEADER)
        raise _Closed()

    def _on_sasl_init(self, init: SaslInit) -> None:
        code, self.sasl_identity = self.ctx.sasl.outcome(init)
        if code != SaslCode.OK:
            log.warning("AMQP connection %s: SASL %s login refused", self.peer, init.mechanism)
        self.send(SaslOutcome(code=code))
        if code != SaslCode.OK:
            raise _Closed()
        self._sasl_done = True
        self._state = "header"
        self._frames.expect_protocol_header()

    def _send_open(self) -> None:
        self.send(Open(
            container_id=self.ctx.container_id,
            max_frame_size=self.ctx.max_frame_size,
            channel_max=CHANNEL_MAX,
            idle_timeout=None if self.ctx.idle_timeout is None else round(self.ctx.idle_timeout * 1000),
        ))

    def _on_open(self, open_: Open) -> None:
        self.peer_max_frame_size = open_.max_frame_size if open_.max_frame_size is not None else NO_MAX_FRAME_SIZE
        if self.peer_max_frame_size < 512:
            raise AmqpFault(ErrorCondition.INVALID_FIELD, "max-frame-size below 512")
        self._send_open()
        self._frames.max_frame_size = self.ctx.max_frame_size
        self._state = "opened"
        if open_.idle_timeout:
            self._heartbeat = asyncio.ensure_future(self._beat(open_.idle_timeout / 2000))

    async def _beat(self, interval: float) -> None:
        while self._state == "opened" and not self._writer.is_closing():
            await asyncio.sleep(interval)
            self._writer.write(HEARTBEAT)

    # ------------------------------------------------------------------ sessions and links

    def _on_begin(self, channel: int, begin: Begin) -> None:
        if begin.remote_channel is not None:
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, "the emulator never begins sessions itself")
        if channel in self._sessions:
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, f"channel {channel} already has a session")
        if channel > CHANNEL_MAX:
            raise AmqpFault(ErrorCondition.NOT_ALLOWED, f"channel {channel} is above channel-max {CHANNEL_MAX}")
        self._ended.discard(channel)
        session = Session(self, channel, begin, channel)
        self._sessions[channel] = session
        session.send(Begin(remote_channel=channel, next_outgoing_id=0, incoming_window=session.incoming_window,
                           outgoing_window=0x7FFF_FFFF, handle_max=0xFFFF))

    def _on_attach(self, session: Session, attach: Attach) -> None:
        if attach.handle in session.links:
            raise AmqpFault(ErrorCondition.HANDLE_IN_USE, f"handle {attach.handle} is already attached")
        self.ctx.nodes.attach(self, session, attach)

    # ------------------------------------------------------------------ what a node directory uses

    @property
    def is_open(self) -> bool:
        return self._state == "opened"

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run work for this connection (a pending attach); cancelled when the connection closes."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def attach_incoming(self, session: Session, attach: Attach, node: ReceivingNode, *,
                        max_message_size: int) -> IncomingLink:
        """Answer the peer's sender attach: we receive into ``node``; credit is granted at once."""
        incoming = IncomingLink(session, attach, session.allocate_handle(), node, max_message_size)
        session.add_link(incoming)
        session.send(Attach(name=attach.name, handle=incoming.handle, role=Role.RECEIVER,
                            snd_settle_mode=attach.snd_settle_mode, rcv_settle_mode=ReceiverSettleMode.FIRST,
                            source=attach.source, target=attach.target, max_message_size=max_message_size))
        incoming.grant_credit()
        return incoming

    def attach_outgoing(self, session: Session, attach: Attach, node: SendingNode, *, settled: bool,
                        max_message_size: int, source: Source | None = None,
                        properties: dict[Any, Any] | None = None) -> OutgoingLink:
        """Answer the peer's receiver attach: ``node`` feeds the link as the peer grants credit."""
        link = OutgoingLink(session, attach, session.allocate_handle(), node, settled=settled)
        session.add_link(link)
        session.send(Attach(
            name=attach.name, handle=link.handle, role=Role.SENDER,
            snd_settle_mode=SenderSettleMode.SETTLED if settled else SenderSettleMode.UNSETTLED,
            rcv_settle_mode=attach.rcv_settle_mode, source=source or attach.source, target=attach.target,
            initial_delivery_count=0, max_message_size=max_message_size,
            properties=properties,
        ))
        return link
