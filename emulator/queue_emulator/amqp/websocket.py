"""AMQP over WebSockets, served by aiohttp: what ``TransportType.AmqpOverWebsocket`` clients dial.

The azure-servicebus SDK opens ``ws[s]://<host>:<port>/$servicebus/websocket`` with the subprotocol
``AMQPWSB10`` and then speaks plain AMQP 1.0 (SASL first) inside binary WebSocket messages. Each WebSocket
becomes one AMQP connection of the same :class:`~queue_emulator.amqp.server.AmqpServer`, through a byte bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiohttp import WSMsgType, web

from .server import AmqpServer

__all__ = ["SUBPROTOCOL", "WEBSOCKET_PATH", "WebSocketListener"]

log = logging.getLogger("queue_emulator.amqp")

WEBSOCKET_PATH = "/$servicebus/websocket"
SUBPROTOCOL = "AMQPWSB10"


class _WebSocketWriter:
    """The writing half of the bridge: ``write`` never blocks; a task sends what was written, in order."""

    def __init__(self, ws: web.WebSocketResponse, peer: str, transport: asyncio.Transport | None) -> None:
        self._ws = ws
        self._peer = peer
        self._transport = transport
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closing = False
        self._pump = asyncio.ensure_future(self._send_all())

    async def _send_all(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                if data is None:
                    return
                chunks = [data]
                while not self._queue.empty():  # coalesce what is already waiting into one message
                    more = self._queue.get_nowait()
                    self._queue.task_done()
                    if more is None:
                        self._closing = True
                        break
                    chunks.append(more)
                if not self._ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await self._ws.send_bytes(b"".join(chunks))
                if self._closing and self._queue.empty():
                    return
            finally:
                self._queue.task_done()

    def write(self, data: bytes) -> None:
        if not self._closing:
            self._queue.put_nowait(bytes(data))

    async def drain(self) -> None:
        if not self._pump.done():
            await self._queue.join()

    def is_closing(self) -> bool:
        return self._closing or self._ws.closed

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._queue.put_nowait(None)

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        await self._ws.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        return default

    def abort(self) -> None:
        """Drop the connection: the underlying TCP transport closes without a WebSocket close frame."""
        self._closing = True
        self._pump.cancel()
        transport = self._transport
        if transport is not None:
            transport.abort()


class WebSocketListener:
    """An aiohttp site serving ``/$servicebus/websocket`` for one AMQP server."""

    def __init__(self, server: AmqpServer, *, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.server = server
        self.host = host
        self._requested_port = port
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(WEBSOCKET_PATH, self._handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, ssl_context=self._tls)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        log.info("AMQP over WebSocket listening on %s://%s:%d%s", "wss" if self._tls else "ws", self.host,
                 self.port, WEBSOCKET_PATH)

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=0, autoping=True)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text=f"{WEBSOCKET_PATH} speaks AMQP over WebSocket only")
        await ws.prepare(request)
        if ws.ws_protocol != SUBPROTOCOL:
            await ws.close(code=1002, message=f"the {SUBPROTOCOL} subprotocol is required".encode())
            return ws
        self._sockets.add(ws)
        peer = f"ws:{request.remote}"
        reader = asyncio.StreamReader()
        writer = _WebSocketWriter(ws, peer, request.transport)
        serving = asyncio.ensure_future(self.server.serve_stream(reader, writer))
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    reader.feed_data(message.data)
                elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
                if serving.done():
                    break
        finally:
            reader.feed_eof()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(serving, 10)
            self._sockets.discard(ws)
            await ws.close()
        return ws
