"""Run the emulator in a background thread with its own event loop, for tests and benchmarks.

    with EmulatorThread(EmulatorSettings(clock="manual")) as emulator:
        ...  # emulator.url, emulator.broker

It always binds a free port on ``settings.host`` (``settings.port`` is ignored).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from queue_runtime.broker import Broker

from .app import build_broker
from .server import RunningServer, start_server
from .settings import EmulatorSettings

__all__ = ["EmulatorThread"]

_START_TIMEOUT = 30.0


class EmulatorThread:
    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        # Both fronts on free ports: several emulators (xdist workers) must never clash.
        self.settings = (settings or EmulatorSettings()).model_copy(
            update={"port": 0, "amqp_port": 0, "amqps_port": 0, "amqp_websocket_port": 0, "admin_port": 0,
                    "admin_tls_port": 0}
        )
        self.broker: Broker = build_broker(self.settings)
        self.url = ""
        self.amqp_port: int | None = None
        self.amqps_port: int | None = None
        self.amqp_websocket_port: int | None = None
        self.ca_path: Path | None = None
        self.servicebus_connection_string: str | None = None
        self.servicebus_admin_connection_string: str | None = None
        self.admin_port: int | None = None
        self.admin_tls_port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"EmulatorThread(url={self.url!r}, clock={self.settings.clock!r})"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("this EmulatorThread was already started")
        self._thread = threading.Thread(target=self._run, name="queue-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise RuntimeError(f"the emulator thread did not start within {_START_TIMEOUT:.0f}s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        """Shut down cleanly (in-flight requests finish, long polls return empty) and join the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass  # the loop already closed
            thread.join(timeout=_START_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            server: RunningServer = await start_server(self.settings, port=0, broker=self.broker)
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self.url = server.url
        self.amqp_port = server.amqp_port
        self.amqps_port = server.amqps_port
        self.amqp_websocket_port = server.amqp_websocket_port
        self.ca_path = server.ca_path
        self.servicebus_connection_string = server.servicebus_connection_string
        self.servicebus_admin_connection_string = server.servicebus_admin_connection_string
        self.admin_port, self.admin_tls_port = server.admin_port, server.admin_tls_port
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
