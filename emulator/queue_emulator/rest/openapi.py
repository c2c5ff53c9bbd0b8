"""The OpenAPI 3.1 document, generated from the route table and the pydantic wire models (never hand-written)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from queue_runtime.broker import JournalKind

from .. import __version__
from ._http import MAX_TEXT
from .keys import OPENAPI
from .route import Route
from .wire import ErrorResponse

__all__ = ["build_openapi", "serve_openapi"]

_REF = "#/components/schemas/{model}"
_PARAMETERS: dict[str, dict[str, Any]] = {
    # The engine's naming rule (queue_runtime.broker.naming): Service Bus' entity rule without '/'.
    "queue": {"type": "string", "minLength": 1, "maxLength": 260,
              "pattern": "^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$"},
    # Tokens and session ids are opaque: any text of these lengths is well formed (a session id from another
    # client may hold a space or a non-ASCII letter); the server checks the same lengths (``path_text``).
    **{name: {"type": "string", "minLength": 1, "maxLength": longest} for name, longest in MAX_TEXT.items()},
    "topic": {"type": "string", "minLength": 1, "maxLength": 260,
              "pattern": "^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$"},
    # SubscriptionName's rule: printable ASCII without spaces, '/' or '\\' (the engine's own rule is wider).
    "subscription": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[!-.0-\\[\\]-~]+$"},
    "rule": {"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[^/\\\\]+$"},
    "sequence_number": {"type": "integer", "minimum": 1},
    "dead_letter": {"type": "boolean", "default": False},
    "entity": {"type": "array", "items": {"type": "string"}, "description": "repeat for several; covers sub-entities"},
    "kind": {"type": "array", "items": {"type": "string", "enum": sorted(kind.value for kind in JournalKind)},
             "description": "repeat for several"},
    "message_id": {"type": "string"},
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
    "after_id": {"type": "integer", "minimum": 0, "description": "only entries newer than this id"},
    "limit": {"type": "integer", "minimum": 1, "description": "the newest this many"},
}
_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content"}


def _has_required(model: type[BaseModel]) -> bool:
    return any(field.is_required() for field in model.model_fields.values())


def build_openapi(routes: Iterable[Route]) -> dict[str, Any]:
    documented = [route for route in routes if route.in_schema]
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorResponse, "serialization")]
    for route in documented:
        if route.request is not None:
            wanted.append((route.request, "validation"))
        if route.response is not None:
            wanted.append((route.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=_REF)
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        operation: dict[str, Any] = {
            "operationId": route.name,
            "summary": route.summary,
            "tags": [route.tag],
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _PARAMETERS[name]}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        # A query name ending in "?" is optional.
        parameters += [
            {"name": name.rstrip("?"), "in": "query", "required": not name.endswith("?"),
             "schema": _PARAMETERS[name.rstrip("?")]}
            for name in route.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.request is not None:
            operation["requestBody"] = {
                "required": _has_required(route.request),
                "content": {"application/json": {"schema": refs[(route.request, "validation")]}},
            }
        success: dict[str, Any] = {"description": _STATUS_TEXT.get(route.status, "OK")}
        if route.response is not None:
            success["content"] = {"application/json": {"schema": refs[(route.response, "serialization")]}}
        elif route.streams:
            success["content"] = {route.streams: {"schema": {"type": "string"}}}
            success["description"] = "a stream: one JSON journal entry per line, until the client disconnects"
        operation["responses"] = {
            str(route.status): success,
            "default": {
                "description": "error: the body names the queue_runtime error code",
                "content": {"application/json": {"schema": refs[(ErrorResponse, "serialization")]}},
            },
        }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "queue-emulator REST API",
            "version": __version__,
            "description": "Queues, messages, peek-lock settlement, sessions, and test controls "
                           "(/v1/_control). Bodies are base64; durations are seconds. See docs/emulator.md.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def encode_openapi(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1).encode()


async def serve_openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


