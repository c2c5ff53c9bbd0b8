"""The web dashboard at ``/``: one static page that polls ``GET /v1/_control/overview``. No build step."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from aiohttp import web

__all__ = ["page"]


@cache
def _html() -> bytes:
    return files("queue_emulator.rest").joinpath("static/dashboard.html").read_bytes()


async def page(request: web.Request) -> web.Response:
    return web.Response(body=_html(), content_type="text/html", charset="utf-8")
