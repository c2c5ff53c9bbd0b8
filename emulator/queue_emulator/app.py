"""The process's composition root: one broker engine, the REST front's app, and the AMQP front started beside it.

Nothing happens at import time and nothing is global: the shared services (settings, entity file, faults, stats,
endpoints) are built here and handed to the fronts. The engine's lifecycle runs in the REST app's ``cleanup_ctx``;
on shutdown, long polls return empty at once and the AMQP front closes its connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web
from pydantic import SecretStr

from queue_runtime.broker import Broker, BrokerLimits, ManualClock, SystemClock
from queue_runtime.broker.journal import Journal
from queue_runtime.broker.waiting import BrokerWaiter
from queue_runtime.errors import ConfigurationError

from .amqp.server import AmqpServer
from .amqp.servicebus import create_servicebus_server
from .amqp.websocket import WebSocketListener
from .endpoints import Endpoints
from .entities import EntityDeclarations, load_entity_file
from .faults import FaultInjector
from .rest.application import create_rest_app
from .rest.keys import BROKER, ENDPOINTS, ENTITIES, FAULTS, SETTINGS, WAITER
from .sas import SasRule, parse_rule
from .settings import EmulatorSettings
from .stats import Stats
from .tls import generate_tls

__all__ = ["build_broker", "create_app"]


def build_broker(settings: EmulatorSettings) -> Broker:
    clock = ManualClock() if settings.clock == "manual" else SystemClock()
    limits = BrokerLimits(
        max_message_size=settings.max_message_size,
        max_queues=settings.max_queues,
        max_batch_messages=settings.max_batch_size,
    )
    return Broker(clock, limits=limits, auto_create=settings.auto_create, journal=Journal(settings.journal_size))


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
        app[ENTITIES].apply(broker)
        waiter = BrokerWaiter(broker)
        app[BROKER] = broker
        app[WAITER] = waiter
        settings = app[SETTINGS]
        amqp: AmqpServer | None = None
        websocket: WebSocketListener | None = None
        if settings.amqp:
            tls = None
            if settings.amqps:
                material = generate_tls(settings.tls_dir, host=settings.host)
                app[ENDPOINTS].ca_path = material.ca_path
                tls = material.server_context()
            amqp = create_servicebus_server(
                broker,
                waiter,
                host=settings.host,
                port=settings.amqp_port,
                sas_key_name=settings.sas_key_name,
                sas_key=settings.sas_key_value(),
                sas_rules=sas_rules(settings, app[ENTITIES]),
                faults=app[FAULTS],
                tls=tls,
                tls_port=settings.amqps_port,
            )
            await amqp.start()
            app[ENDPOINTS].amqp_port = amqp.port
            app[ENDPOINTS].amqps_port = amqp.tls_port
            if settings.amqp_websocket:
                websocket = WebSocketListener(amqp, host=settings.host, port=settings.amqp_websocket_port)
                try:
                    await websocket.start()
                except BaseException:
                    await amqp.close()
                    raise
                app[ENDPOINTS].amqp_websocket_port = websocket.port
        try:
            yield
        finally:
            waiter.close()  # pending deliveries and long polls stop waiting first
            if websocket is not None:
                await websocket.close()
            if amqp is not None:
                await amqp.close()

    return engine
