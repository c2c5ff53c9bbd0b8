"""The process's composition root: one broker engine, the REST front's app, and the AMQP front started beside it.

Nothing happens at import time and nothing is global: the shared services (settings, entity file, faults, stats,
endpoints) are built here and handed to the fronts. The engine's lifecycle runs in the REST app's ``cleanup_ctx``;
on shutdown, long polls return empty at once and the AMQP front closes its connections.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from queue_runtime.broker import Broker, BrokerLimits, ManualClock, SystemClock
from queue_runtime.broker.waiting import BrokerWaiter

from .admin import AdminState, FieldStore, create_admin_app
from .amqp.server import AmqpServer
from .amqp.servicebus import create_servicebus_server
from .endpoints import Endpoints
from .entities import load_entity_file
from .faults import FaultInjector
from .rest.application import create_rest_app
from .rest.keys import BROKER, ENDPOINTS, ENTITIES, SETTINGS, WAITER
from .sas import SasVerifier
from .settings import EmulatorSettings
from .stats import Stats
from .tls import LocalCertificateAuthority

__all__ = ["build_broker", "create_app"]


def build_broker(settings: EmulatorSettings) -> Broker:
    clock = ManualClock() if settings.clock == "manual" else SystemClock()
    limits = BrokerLimits(
        max_message_size=settings.max_message_size,
        max_queues=settings.max_queues,
        max_batch_messages=settings.max_batch_size,
    )
    return Broker(clock, limits=limits, auto_create=settings.auto_create)


def create_app(settings: EmulatorSettings | None = None, *, broker: Broker | None = None) -> web.Application:
    """Build the app. ``broker`` lets a caller (tests, the in-thread runner) keep a handle on the engine;
    by default one is built from ``settings`` when the app starts. Raises ``ConfigurationError`` for a bad
    entity file."""
    settings = settings or EmulatorSettings()
    app = create_rest_app(
        settings,
        entities=load_entity_file(settings.entity_file),
        faults=FaultInjector(),
        stats=Stats(),
        endpoints=Endpoints(),
    )
    app.cleanup_ctx.append(_engine(broker))
    return app


def _engine(given: Broker | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def engine(app: web.Application) -> AsyncIterator[None]:
        broker = given if given is not None else build_broker(app[SETTINGS])
        app[ENTITIES].apply(broker)
        waiter = BrokerWaiter(broker)
        app[BROKER] = broker
        app[WAITER] = waiter
        settings = app[SETTINGS]
        amqp: AmqpServer | None = None
        if settings.amqp:
            amqp = create_servicebus_server(
                broker,
                waiter,
                host=settings.host,
                port=settings.amqp_port,
                sas_key_name=settings.sas_key_name,
                sas_key=settings.sas_key.get_secret_value() if settings.sas_key else None,
            )
            await amqp.start()
            app[ENDPOINTS].amqp_port = amqp.port
        admin: _AdminServer | None = None
        try:
            if settings.admin:
                admin = _AdminServer(broker, settings)
                await admin.start(app[ENDPOINTS])
            yield
        finally:
            waiter.close()  # pending deliveries and long polls stop waiting first
            if admin is not None:
                await admin.close()
            if amqp is not None:
                await amqp.close()

    return engine


class _AdminServer:
    """The administration front on two sites of one app: plain HTTP and HTTPS with a certificate of a CA
    generated for this process (its ``ca.pem`` in ``settings.tls_dir`` or a temporary directory removed at stop)."""

    def __init__(self, broker: Broker, settings: EmulatorSettings) -> None:
        self._settings = settings
        key = settings.sas_key.get_secret_value() if settings.sas_key else None
        state = AdminState(broker=lambda: broker, verifier=SasVerifier(settings.sas_key_name, key),
                           store=FieldStore(), started=datetime.fromtimestamp(broker.clock.now(), UTC))
        self._runner = web.AppRunner(create_admin_app(state), access_log=None)
        self._temporary: Path | None = None

    async def start(self, endpoints: Endpoints) -> None:
        settings = self._settings
        authority = LocalCertificateAuthority(hosts=(settings.host,))
        if settings.tls_dir is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="queue-emulator-tls-"))
        endpoints.ca_file = authority.write_ca(settings.tls_dir or self._temporary or Path("."))
        await self._runner.setup()
        try:
            plain = web.TCPSite(self._runner, settings.host, settings.admin_port)
            await plain.start()
            secure = web.TCPSite(self._runner, settings.host, settings.admin_tls_port,
                                 ssl_context=authority.server_context())
            await secure.start()
        except BaseException:
            await self.close()
            raise
        ports = [address[1] for address in self._runner.addresses]
        endpoints.admin_port, endpoints.admin_tls_port = ports[0], ports[1]

    async def close(self) -> None:
        await self._runner.cleanup()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None
