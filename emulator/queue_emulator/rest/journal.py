"""The journal over HTTP: query it, follow it live (NDJSON), and wait until entities are idle.

The journal and idleness are the engine's (``queue_runtime.broker.journal``); these handlers only parse the query,
call it and encode. Which client acted comes from :func:`client_middleware`, which names every request
``rest:<X-Request-Id>`` (or ``rest:<remote address>``) for the engine calls made while handling it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from queue_runtime.broker import JournalEntry, JournalKind, acting_client
from queue_runtime.broker.waiting import wait_until_idle
from queue_runtime.errors import ValidationError

from ._http import encode, parse
from .keys import BROKER, WAITER
from .wire import IdleResponse, WaitIdleRequest

__all__ = ["JOURNAL_QUERY", "client_middleware", "follow_journal", "query_journal", "wait_idle"]

JOURNAL_QUERY = ("entity?", "kind?", "message_id?", "since?", "until?", "after_id?", "limit?")
_FOLLOW_BACKLOG = 100


@web.middleware
async def client_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    client = request.headers.get("X-Request-Id") or request.remote or "unknown"
    with acting_client(f"rest:{client[:200]}"):
        return await handler(request)


def _int(request: web.Request, name: str, minimum: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(name, f"must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValidationError(name, f"must be at least {minimum}, got {value}")
    return value


def _time(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(name, f"must be an RFC 3339 time, got {raw!r}") from None
    if value.tzinfo is None:
        raise ValidationError(name, "needs a time zone (for example 2026-01-01T00:00:00Z)")
    return value.timestamp()


def _filters(request: web.Request) -> dict[str, Any]:
    kinds = request.query.getall("kind", [])
    known = {kind.value for kind in JournalKind}
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        raise ValidationError("kind", f"unknown kind {unknown[0]!r}; known: {', '.join(sorted(known))}")
    entities = request.query.getall("entity", [])
    return {
        "entity": entities or None,
        "kinds": kinds or None,
        "message_id": request.query.get("message_id"),
        "since": _time(request, "since"),
        "until": _time(request, "until"),
    }


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return entry.as_dict()


async def query_journal(request: web.Request) -> web.Response:
    journal = request.app[BROKER].journal
    entries = journal.entries(
        **_filters(request), after_id=_int(request, "after_id", 0) or 0, limit=_int(request, "limit", 1)
    )
    body = orjson.dumps({
        "entries": [_entry_json(e) for e in entries],
        "recorded": journal.recorded,
        "dropped": journal.dropped,
        "size": journal.size if journal.enabled else 0,
    })
    return web.Response(body=body, content_type="application/json")


async def follow_journal(request: web.Request) -> web.StreamResponse:
    """Matching entries as they are recorded, one JSON object per line, until the client goes away. Without
    ``after_id`` it starts with the newest ``limit`` (default 100) entries already there."""
    broker = request.app[BROKER]
    waiter = request.app[WAITER]
    journal = broker.journal
    filters = _filters(request)
    after_id = _int(request, "after_id", 0)
    backlog = _int(request, "limit", 1) or _FOLLOW_BACKLOG
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def on_entry() -> None:
        loop.call_soon_threadsafe(changed.set)

    unsubscribe = journal.subscribe(on_entry)
    try:
        seen = after_id if after_id is not None else 0
        first = after_id is None
        while not waiter.closing:
            changed.clear()
            entries = journal.entries(**filters, after_id=seen, limit=backlog if first else None)
            first = False
            seen = max(seen, journal.recorded)
            if entries:
                await response.write(b"".join(orjson.dumps(_entry_json(e)) + b"\n" for e in entries))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.5)
    except ConnectionResetError:
        pass  # the follower went away
    finally:
        unsubscribe()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


async def wait_idle(request: web.Request) -> web.Response:
    body = await parse(request, WaitIdleRequest)
    report = await wait_until_idle(
        request.app[BROKER], body.entities, quiet=body.quiet, timeout=body.timeout, grace=body.grace
    )
    return encode(IdleResponse(idle=report.idle, busy=report.busy, waited=round(report.waited, 4)))
