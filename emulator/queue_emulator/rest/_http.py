"""Small helpers every HTTP handler uses: parse a body into a wire model, encode a model, read path values."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from queue_runtime import QueueName, SubscriptionName
from queue_runtime.broker import dead_letter_path
from queue_runtime.errors import ValidationError

__all__ = ["MAX_TEXT", "encode", "no_content", "parse", "path_of", "path_text", "queue_of"]

# The longest value each opaque path or query parameter may have; the OpenAPI document states the same.
MAX_TEXT = {"lock_token": 200, "session_id": 128, "session_token": 200}

M = TypeVar("M", bound=BaseModel)


async def parse(request: web.Request, model: type[M], *, strict: bool = True) -> M:
    """The body as ``model``, strictly (no "5" for 5, no true for 1 s); an empty body means all defaults. Errors
    surface as pydantic's ValidationError. ``strict=False`` for the library's own option models (topics,
    subscriptions, rules), whose durations are given as seconds or ISO 8601 as the entity file takes them."""
    raw = await request.read()
    return model.model_validate_json(raw if raw.strip() else b"{}", strict=strict)


def encode(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=model.__pydantic_serializer__.to_json(model), status=status, content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def queue_of(request: web.Request) -> QueueName:
    """The entity a message route names: a queue, a topic (publish), or a topic's subscription."""
    info = request.match_info
    if "subscription" in info:
        return SubscriptionName(info["topic"], info["subscription"])
    if "topic" in info:
        return QueueName(info["topic"])
    return QueueName(info["queue"])


def path_of(queue: str, dead_letter: bool) -> str:
    return dead_letter_path(queue) if dead_letter else queue


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter as the schema states it: ``true`` or ``false``, at most once (absent: false)."""
    given = request.query.getall(name, [])
    if len(given) > 1:
        raise ValidationError(name, f"is given {len(given)} times; give it once")
    if not given:
        return False
    if given[0] not in ("true", "false"):
        raise ValidationError(name, f"must be true or false, got {given[0]!r}")
    return given[0] == "true"


def path_text(request: web.Request, name: str) -> str:
    """An opaque path or query value (token, session id): any text of 1 to ``MAX_TEXT[name]`` characters."""
    value = request.match_info.get(name)
    if value is None:
        value = request.query.get(name)
    if not value:
        raise ValidationError(name, "is required")
    if len(value) > MAX_TEXT[name]:
        raise ValidationError(name, f"must be at most {MAX_TEXT[name]} characters, got {len(value)}")
    return value
