"""Small helpers every HTTP handler uses: parse a body into a wire model, encode a model, read path values."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from queue_runtime import QueueName, SubscriptionName
from queue_runtime.broker import dead_letter_path

__all__ = ["encode", "no_content", "parse", "path_of", "queue_of"]

M = TypeVar("M", bound=BaseModel)


async def parse(request: web.Request, model: type[M]) -> M:
    """The body as ``model``; an empty body means all defaults. Errors surface as pydantic's ValidationError."""
    raw = await request.read()
    return model.model_validate_json(raw if raw.strip() else b"{}")


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
