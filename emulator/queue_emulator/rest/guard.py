"""Local security for the REST front: a tool on loopback is still reachable by every web page the developer opens.

Three checks, before any handler runs:

- **Host** (DNS rebinding): a page on ``evil.example`` whose name resolves to 127.0.0.1 reaches us with
  ``Host: evil.example``. Served are the bound address, IP literals (a rebinding attack always carries its own
  name), ``localhost`` and ``*.localhost``, and names listed in ``--allowed-hosts``.
- **Origin** (cross-site requests): a browser names the page that sent a request in ``Origin``. Allowed are the
  dashboard's own origin (this server's address under a served host name) and ``--allowed-origins``.
- **JSON only** for requests with a body: an HTML form or a ``text/plain`` fetch (the "simple" requests browsers
  send cross-origin without asking) is refused with 415, so a page can never forge a state change.

Refusals are structured errors like every other (403 or 415), never HTML.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from queue_runtime.errors import AuthorizationError, UnsupportedOperationError

from ..settings import EmulatorSettings
from .errors import error_response

__all__ = ["RequestGuard", "guard_middleware"]

_LOOPBACK_NAMES = ("localhost",)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip().lower().rstrip("/") for part in value.split(",") if part.strip())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class RequestGuard:
    bound_host: str
    extra_hosts: frozenset[str]
    extra_origins: frozenset[str]

    @classmethod
    def of(cls, settings: EmulatorSettings) -> RequestGuard:
        return cls(settings.host.lower(), _split(settings.allowed_hosts), _split(settings.allowed_origins))

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return (
            "*" in self.extra_hosts
            or name == self.bound_host.strip("[]")
            or _is_ip(name)
            or name in _LOOPBACK_NAMES
            or name.endswith(".localhost")
            or name in self.extra_hosts
        )

    def origin_allowed(self, origin: str, request_host: str | None) -> bool:
        origin = origin.lower().rstrip("/")
        if "*" in self.extra_origins or origin in self.extra_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            return False  # "null" (sandboxed frames, file:// pages) and anything else
        # The dashboard's own origin: the page was served by this server, under a host name we serve.
        same_authority = request_host is not None and parts.netloc == request_host.lower()
        return same_authority and self.host_allowed(parts.hostname)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guard_middleware(guard: RequestGuard) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.host  # "name:port" as the client sent it
        hostname = urlsplit(f"//{host}").hostname or ""
        if not guard.host_allowed(hostname):
            return error_response(AuthorizationError(
                f"Host {hostname!r} is not served (DNS rebinding protection); start the emulator with "
                "--allowed-hosts to serve it", details={"host": hostname}), 403)
        origin = request.headers.get("Origin")
        if origin is not None and not guard.origin_allowed(origin, host):
            return error_response(AuthorizationError(
                f"requests from origin {origin!r} are refused (cross-site protection); start the emulator with "
                "--allowed-origins to allow it", details={"origin": origin}), 403)
        if request.method in _BODY_METHODS and request.body_exists and request.content_type != "application/json":
            return error_response(UnsupportedOperationError(
                f"a request body must be JSON (Content-Type: application/json), got {request.content_type!r}",
                details={"content_type": request.content_type}), 415)
        return await handler(request)

    return check
