"""Start and stop the app on a TCP port; shared by the CLI and the in-thread runner."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from queue_runtime.broker import Broker

from .app import create_app
from .rest.keys import ENDPOINTS
from .settings import EmulatorSettings

__all__ = ["RunningServer", "start_server"]

# In-flight requests get this long to finish once shutdown starts (long polls return at once anyway).
SHUTDOWN_TIMEOUT = 10.0


@dataclass(slots=True)
class RunningServer:
    runner: web.AppRunner
    url: str
    port: int
    settings: EmulatorSettings
    amqp_port: int | None = None
    amqps_port: int | None = None
    amqp_websocket_port: int | None = None
    ca_path: Path | None = None
    admin_port: int | None = None
    admin_tls_port: int | None = None

    @property
    def servicebus_connection_string(self) -> str | None:
        return None if self.amqp_port is None else self.settings.servicebus_connection_string(self.amqp_port)

    @property
    def servicebus_admin_connection_string(self) -> str | None:
        """For ``ServiceBusAdministrationClient.from_connection_string(..., connection_verify=ca_path)``."""
        port = self.admin_tls_port
        return None if port is None else self.settings.servicebus_admin_connection_string(port)

    async def stop(self) -> None:
        await self.runner.cleanup()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def start_server(
    settings: EmulatorSettings, *, port: int | None = None, broker: Broker | None = None
) -> RunningServer:
    app = create_app(settings, broker=broker)
    debug = settings.log_level == "debug"
    # handler_cancellation: a request whose client went away stops at once (a long poll must not take messages for
    # it); aiohttp's own test server does this, its production default does not.
    runner = web.AppRunner(
        app, access_log=logging.getLogger("aiohttp.access") if debug else None, shutdown_timeout=SHUTDOWN_TIMEOUT,
        handler_cancellation=True,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port if port is None else port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    endpoints = app[ENDPOINTS]
    return RunningServer(runner, _url(settings.host, bound), bound, settings, amqp_port=endpoints.amqp_port,
                         amqps_port=endpoints.amqps_port, amqp_websocket_port=endpoints.amqp_websocket_port,
                         ca_path=endpoints.ca_path,
                         admin_port=endpoints.admin_port, admin_tls_port=endpoints.admin_tls_port)
