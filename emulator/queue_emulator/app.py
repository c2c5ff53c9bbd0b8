"""The process's composition root: one broker engine, the REST front's app, and the AMQP front (plain, TLS,
WebSocket) and the administration endpoint started beside it.

Nothing happens at import time and nothing is global: the shared services (settings, entity file, faults, stats,
endpoints) are built here and handed to the fronts. The engine's lifecycle runs in the REST app's ``cleanup_ctx``;
on shutdown, long polls return empty at once and the other fronts close. One generated CA (``tls.py``) signs the
certificates of every TLS listener; its directory, when the emulator made it, is removed at stop.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web
from pydantic import SecretStr

from queue_runtime.broker import Broker, BrokerLimits, ManualClock, SystemClock
from queue_runtime.broker.durable import DurableBroker
from queue_runtime.broker.journal import Journal
from queue_runtime.broker.waiting import BrokerWaiter
from queue_runtime.errors import ConfigurationError

from .admin import AdminState, FieldStore, create_admin_app
from .amqp.server import AmqpServer
from .amqp.servicebus import create_servicebus_server
from .amqp.websocket import WebSocketListener
from .endpoints import Endpoints
from .entities import EntityDeclarations, load_entity_file
from .faults import FaultInjector
from .rest.application import create_rest_app
from .rest.keys import BROKER, ENDPOINTS, ENTITIES, FAULTS, SETTINGS, WAITER
from .sas import SasRule, SasVerifier, parse_rule
from .settings import EmulatorSettings
from .stats import Stats
from .storage import open_durable_broker
from .tls import TlsMaterial, generate_tls

__all__ = ["build_broker", "create_app"]


def build_broker(settings: EmulatorSettings) -> Broker:
    """The engine ``settings`` ask for: in memory, or (with ``data_dir``) filled from and written to the data
    directory. Raises ``DataDirectoryError`` (a ``ConfigurationError``) for a damaged or busy directory."""
    limits = BrokerLimits(
        max_message_size=settings.max_message_size,
        max_queues=settings.max_queues,
        max_batch_messages=settings.max_batch_size,
    )
    journal = Journal(settings.journal_size)
    if settings.data_dir is not None:
        return open_durable_broker(settings.data_dir, sync=settings.data_sync, manual_clock=settings.clock == "manual",
                                   limits=limits, auto_create=settings.auto_create, journal=journal)
    clock = ManualClock() if settings.clock == "manual" else SystemClock()
    return Broker(clock, limits=limits, auto_create=settings.auto_create, journal=journal)


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


def sas_rules(settings: EmulatorSettings, entities: EntityDeclarations) -> tuple[SasRule, ...]:
    """Authorization rules from ``--sas-rule``/``QUEUE_EMULATOR_SAS_RULES`` and the entity file."""
    rules: list[SasRule] = []
    for text in settings.sas_rules:
        try:
            name, rights, key = parse_rule(text.get_secret_value())
            rules.append(SasRule(name, SecretStr(key), rights))
        except ValueError as exc:
            raise ConfigurationError(f"--sas-rule / {settings.env_name('sas_rules')}: {exc}") from exc
    rules.extend(entities.authorization_rules)
    names = [rule.name for rule in rules]
    if settings.sas_key_value() is not None:
        names.append(settings.sas_key_name)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"SAS rule names must be unique: {', '.join(duplicates)} given twice")
    return tuple(rules)


def _engine(given: Broker | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def engine(app: web.Application) -> AsyncIterator[None]:
        broker = given if given is not None else build_broker(app[SETTINGS])
        try:
            app[ENTITIES].apply(broker)  # with a data directory: only what it does not hold yet
        except BaseException:
            if isinstance(broker, DurableBroker):
                broker.close()
            raise
        waiter = BrokerWaiter(broker)
        app[BROKER] = broker
        app[WAITER] = waiter
        settings = app[SETTINGS]
        endpoints = app[ENDPOINTS]
        rules = sas_rules(settings, app[ENTITIES])
        material: TlsMaterial | None = None
        amqp: AmqpServer | None = None
        websocket: WebSocketListener | None = None
        admin: _AdminServer | None = None
        try:
            if (settings.amqp and settings.amqps) or settings.admin:
                material = generate_tls(settings.tls_dir, host=settings.host)
                endpoints.ca_path = material.ca_path
            if settings.amqp:
                amqp = create_servicebus_server(
                    broker,
                    waiter,
                    host=settings.host,
                    port=settings.amqp_port,
                    sas_key_name=settings.sas_key_name,
                    sas_key=settings.sas_key_value(),
                    sas_rules=rules,
                    faults=app[FAULTS],
                    tls=material.server_context() if material is not None and settings.amqps else None,
                    tls_port=settings.amqps_port,
                )
                await amqp.start()
                endpoints.amqp_port = amqp.port
                endpoints.amqps_port = amqp.tls_port
                if settings.amqp_websocket:
                    websocket = WebSocketListener(amqp, host=settings.host, port=settings.amqp_websocket_port)
                    await websocket.start()
                    endpoints.amqp_websocket_port = websocket.port
            if settings.admin:
                assert material is not None
                admin = _AdminServer(broker, settings, _verifier(settings, rules))
                await admin.start(endpoints, material)
            yield
        finally:
            waiter.close()  # pending deliveries and long polls stop waiting first
            if admin is not None:
                await admin.close()
            if websocket is not None:
                await websocket.close()
            if amqp is not None:
                await amqp.close()
            if material is not None and settings.tls_dir is None:
                shutil.rmtree(material.ca_path.parent, ignore_errors=True)  # the temporary directory we made
            if isinstance(broker, DurableBroker):
                broker.close()  # every front is closed: nothing writes any more

    return engine


def _verifier(settings: EmulatorSettings, rules: tuple[SasRule, ...]) -> SasVerifier:
    """The same rules as the AMQP front: ``--sas-key`` (one Manage rule) plus ``--sas-rule`` and the entity file."""
    single = SasVerifier.single(settings.sas_key_name, settings.sas_key_value()).rules
    return SasVerifier((*single, *rules))


class _AdminServer:
    """The administration front on two sites of one app: plain HTTP and HTTPS with the process's certificate."""

    def __init__(self, broker: Broker, settings: EmulatorSettings, verifier: SasVerifier) -> None:
        self._settings = settings
        state = AdminState(broker=lambda: broker, verifier=verifier,
                           store=FieldStore(lambda: broker), started=datetime.fromtimestamp(broker.clock.now(), UTC))
        self._runner = web.AppRunner(create_admin_app(state), access_log=None)

    async def start(self, endpoints: Endpoints, material: TlsMaterial) -> None:
        settings = self._settings
        await self._runner.setup()
        try:
            plain = web.TCPSite(self._runner, settings.host, settings.admin_port)
            await plain.start()
            secure = web.TCPSite(self._runner, settings.host, settings.admin_tls_port,
                                 ssl_context=material.server_context())
            await secure.start()
        except BaseException:
            await self.close()
            raise
        ports = [address[1] for address in self._runner.addresses]
        endpoints.admin_port, endpoints.admin_tls_port = ports[0], ports[1]

    async def close(self) -> None:
        await self._runner.cleanup()
