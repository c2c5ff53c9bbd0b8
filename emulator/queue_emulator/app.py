"""The application factory: one broker engine behind the REST front, the control API and the dashboard.

Nothing happens at import time and nothing is global: every piece of state hangs off the app under a typed key
(``keys.py``). The engine's lifecycle runs in ``cleanup_ctx``; on shutdown, long polls return empty at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from queue_runtime.broker import Broker, BrokerLimits, ManualClock, SystemClock
from queue_runtime.broker.waiting import BrokerWaiter

from .amqp.server import AmqpServer
from .entities import load_entity_file
from .faults import FaultInjector
from .http_errors import error_middleware
from .keys import AMQP, BROKER, ENTITIES, FAULTS, OPENAPI, SETTINGS, STATS, WAITER
from .openapi import build_openapi, encode_openapi
from .routes import ROUTES, add_routes
from .settings import EmulatorSettings
from .stats import Stats

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
    app = web.Application(client_max_size=settings.max_request_size, middlewares=[error_middleware])
    app[SETTINGS] = settings
    app[ENTITIES] = load_entity_file(settings.entity_file)
    app[FAULTS] = FaultInjector()
    app[STATS] = Stats()
    app[OPENAPI] = encode_openapi(build_openapi(ROUTES))
    app.cleanup_ctx.append(_engine(broker))
    app.on_shutdown.append(_stop_waiting)
    add_routes(app)
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
            amqp = AmqpServer(
                broker,
                waiter,
                host=settings.host,
                port=settings.amqp_port,
                sas_key_name=settings.sas_key_name,
                sas_key=settings.sas_key.get_secret_value() if settings.sas_key else None,
            )
            await amqp.start()
            app[AMQP] = amqp
        try:
            yield
        finally:
            waiter.close()  # pending deliveries and long polls stop waiting first
            if amqp is not None:
                await amqp.close()

    return engine


async def _stop_waiting(app: web.Application) -> None:
    """Runs before aiohttp waits for in-flight requests: pending long polls answer "nothing" now."""
    app[WAITER].close()
