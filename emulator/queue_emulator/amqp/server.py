"""The AMQP 1.0 listener: an asyncio TCP server that runs one :class:`Connection` per socket.

It knows no dialect: what link addresses mean comes from the ``NodeDirectory`` it is given (the Service Bus one
is built by ``queue_emulator.amqp.servicebus.create_servicebus_server``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid

from .connection import ByteWriter, Connection, NodeDirectory, ServerContext, StreamByteWriter
from .protocol.sasl import SaslPolicy

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "AmqpServer"]

log = logging.getLogger("queue_emulator.amqp")

DEFAULT_MAX_FRAME_SIZE = 256 * 1024


class AmqpServer:
    def __init__(
        self,
        nodes: NodeDirectory,
        *,
        sasl: SaslPolicy,
        host: str = "127.0.0.1",
        port: int = 5672,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        idle_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
        tls_port: int = 5671,
        handshake_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._tls = tls
        self._requested_tls_port = tls_port
        self._tls_server: asyncio.Server | None = None
        self.tls_port: int | None = None
        """The bound ``amqps`` port once started (None without TLS)."""
        self._context = ServerContext(
            sasl=sasl,
            nodes=nodes,
            max_frame_size=max_frame_size,
            idle_timeout=idle_timeout,
            container_id=f"queue-emulator-{uuid.uuid4()}",
            handshake_timeout=handshake_timeout,
        )
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("AMQP front listening on %s:%d", self.host, self.port)
        if self._tls is not None:
            try:
                self._tls_server = await asyncio.start_server(self._accept, self.host, self._requested_tls_port,
                                                              ssl=self._tls)
            except BaseException:
                await self.close()
                raise
            self.tls_port = self._tls_server.sockets[0].getsockname()[1]
            log.info("AMQP front listening with TLS (amqps) on %s:%d", self.host, self.tls_port)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.serve_stream(reader, StreamByteWriter(writer))

    async def serve_stream(self, reader: asyncio.StreamReader, writer: ByteWriter) -> None:
        """Run one AMQP connection over any byte stream (a TCP or TLS socket, a WebSocket bridge) until it ends."""
        connection = Connection(self._context, reader, writer)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._tls_server is not None:
            self._tls_server.close()
        for connection in list(self._connections):
            connection.close_now()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._tls_server is not None:
            await self._tls_server.wait_closed()
            self._tls_server = None

    async def __aenter__(self) -> AmqpServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
