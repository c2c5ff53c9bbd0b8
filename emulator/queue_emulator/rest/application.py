"""The REST front's application factory: routes, error middleware, OpenAPI and the shared services under typed keys.

The process (``queue_emulator.app``) builds it, then puts the engine under ``BROKER``/``WAITER`` when it starts.
"""

from __future__ import annotations

from aiohttp import web

from ..endpoints import Endpoints
from ..entities import EntityDeclarations
from ..faults import FaultInjector
from ..settings import EmulatorSettings
from ..stats import Stats
from .errors import error_middleware
from .guard import RequestGuard, guard_middleware
from .journal import client_middleware
from .keys import ENDPOINTS, ENTITIES, FAULTS, OPENAPI, SETTINGS, STATS, WAITER
from .openapi import build_openapi, encode_openapi
from .routes import ROUTES, add_routes

__all__ = ["create_rest_app"]


def create_rest_app(
    settings: EmulatorSettings,
    *,
    entities: EntityDeclarations,
    faults: FaultInjector,
    stats: Stats,
    endpoints: Endpoints,
) -> web.Application:
    guard = guard_middleware(RequestGuard.of(settings))
    app = web.Application(client_max_size=settings.max_request_size,
                          middlewares=[guard, client_middleware, error_middleware])
    app[SETTINGS] = settings
    app[ENTITIES] = entities
    app[FAULTS] = faults
    app[STATS] = stats
    app[ENDPOINTS] = endpoints
    app[OPENAPI] = encode_openapi(build_openapi(ROUTES))
    app.on_shutdown.append(_stop_waiting)
    add_routes(app)
    return app


async def _stop_waiting(app: web.Application) -> None:
    """Runs before aiohttp waits for in-flight requests: pending long polls answer "nothing" now."""
    app[WAITER].close()
