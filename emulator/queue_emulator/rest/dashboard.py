"""The web dashboard at ``/``: a static page (HTML, CSS, plain JavaScript; no build step, no CDN) that only calls
the REST API: the overview, peek, the journal stream, and the actions (purge, resubmit, delete, send, reset, clock,
faults), which are ordinary REST operations usable from tests and scripts too."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from aiohttp import web

__all__ = ["asset", "page"]

_ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


@cache
def _static(name: str) -> bytes:
    return files("queue_emulator.rest").joinpath("static", name).read_bytes()


async def page(request: web.Request) -> web.Response:
    return web.Response(body=_static("dashboard.html"), content_type="text/html", charset="utf-8")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise web.HTTPNotFound(text=f"no dashboard file {name!r}")
    return web.Response(body=_static(name), content_type=_ASSETS[name], charset="utf-8")
