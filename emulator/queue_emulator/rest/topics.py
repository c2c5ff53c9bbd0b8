"""The REST/JSON front for topics, subscriptions and rules (management only: publishing and receiving use the
message, lock and session handlers of :mod:`.queues` on topic and subscription paths). Rules live in the engine."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from queue_runtime import QueueName, QueueOptions, RuleProperties, SubscriptionName, SubscriptionOptions, TopicOptions
from queue_runtime.broker import Broker
from queue_runtime.errors import ValidationError

from ._http import encode, no_content, parse
from .keys import BROKER, FAULTS
from .topics_wire import (
    RuleListResponse,
    SubscriptionCreateRequest,
    SubscriptionListResponse,
    SubscriptionPropertiesOut,
    TopicListResponse,
    TopicPropertiesOut,
)
from .wire import QueuePropertiesOut

__all__ = [
    "create_rule", "create_subscription", "create_topic", "delete_rule", "delete_subscription", "delete_topic",
    "get_rule", "get_subscription", "get_topic", "list_rules", "list_subscriptions", "list_topics", "update_queue",
    "update_rule", "update_subscription", "update_topic",
]

M = TypeVar("M", bound=BaseModel)


async def _before(request: web.Request, operation: str, entity: str | None) -> Broker:
    await request.app[FAULTS].before(operation, entity)
    return request.app[BROKER]


def _topic(request: web.Request) -> QueueName:
    return QueueName(request.match_info["topic"])


def _subscription(request: web.Request) -> SubscriptionName:
    return SubscriptionName(request.match_info["topic"], request.match_info["subscription"])


async def _patch(request: web.Request, current: M) -> M:
    """``current`` with the fields the JSON body gives replaced (validated as a whole)."""
    raw = await request.read()
    try:
        changes: Any = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ValidationError("body", f"the request body is not JSON: {exc}") from exc
    if not isinstance(changes, dict):
        changes = {"": changes}  # pydantic reports it: an object is expected
    values = current.model_dump()
    values.update(changes)
    return type(current).model_validate(values)


# ---------------------------------------------------------------- queues (forwarding can change)


async def update_queue(request: web.Request) -> web.Response:
    queue = QueueName(request.match_info["queue"])
    broker = await _before(request, "update_queue", queue)
    options = await _patch(request, broker.get_queue(queue).options)
    return encode(QueuePropertiesOut.of(broker.update_queue(queue, QueueOptions.model_validate(dict(options)))))


# ---------------------------------------------------------------- topics


async def list_topics(request: web.Request) -> web.Response:
    broker = await _before(request, "list_topics", None)
    return encode(TopicListResponse(topics=[TopicPropertiesOut.of(broker.get_topic(n)) for n in broker.topic_names()]))


async def create_topic(request: web.Request) -> web.Response:
    topic = _topic(request)
    options = await parse(request, TopicOptions, strict=False)
    broker = await _before(request, "create_topic", topic)
    return encode(TopicPropertiesOut.of(broker.create_topic(topic, options)), status=201)


async def get_topic(request: web.Request) -> web.Response:
    topic = _topic(request)
    broker = await _before(request, "get_topic", topic)
    return encode(TopicPropertiesOut.of(broker.get_topic(topic)))


async def update_topic(request: web.Request) -> web.Response:
    topic = _topic(request)
    broker = await _before(request, "update_topic", topic)
    options = await _patch(request, broker.get_topic(topic).options)
    return encode(TopicPropertiesOut.of(broker.update_topic(topic, options)))


async def delete_topic(request: web.Request) -> web.Response:
    topic = _topic(request)
    broker = await _before(request, "delete_topic", topic)
    broker.delete_topic(topic)
    return no_content()


# ---------------------------------------------------------------- subscriptions


async def list_subscriptions(request: web.Request) -> web.Response:
    topic = _topic(request)
    broker = await _before(request, "list_subscriptions", topic)
    found = [SubscriptionPropertiesOut.of(broker.get_subscription(topic, s)) for s in broker.subscription_names(topic)]
    return encode(SubscriptionListResponse(subscriptions=found))


async def create_subscription(request: web.Request) -> web.Response:
    name = _subscription(request)
    body = await parse(request, SubscriptionCreateRequest, strict=False)
    broker = await _before(request, "create_subscription", name)
    options = SubscriptionOptions.model_validate(body.model_dump(exclude={"rule"}))
    created = broker.create_subscription(name.topic, name.subscription, options, body.rule)
    return encode(SubscriptionPropertiesOut.of(created), status=201)


async def get_subscription(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "get_subscription", name)
    return encode(SubscriptionPropertiesOut.of(broker.get_subscription(name.topic, name.subscription)))


async def update_subscription(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "update_subscription", name)
    options = await _patch(request, broker.get_subscription(name.topic, name.subscription).options)
    return encode(SubscriptionPropertiesOut.of(broker.update_subscription(name.topic, name.subscription, options)))


async def delete_subscription(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "delete_subscription", name)
    broker.delete_subscription(name.topic, name.subscription)
    return no_content()


# ---------------------------------------------------------------- rules


def _rule_body(request: web.Request, rule: RuleProperties) -> RuleProperties:
    """The rule's name is the path's; a body naming another rule is refused."""
    name = request.match_info["rule"]
    if "name" in rule.model_fields_set and rule.name != name:
        raise ValidationError("name", f"the body names rule {rule.name!r} but the path names {name!r}")
    return rule.model_copy(update={"name": name})


async def list_rules(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "list_rules", name)
    return encode(RuleListResponse(rules=broker.rules(name.topic, name.subscription)))


async def create_rule(request: web.Request) -> web.Response:
    name = _subscription(request)
    rule = _rule_body(request, await parse(request, RuleProperties, strict=False))
    broker = await _before(request, "create_rule", name)
    return encode(broker.create_rule(name.topic, name.subscription, rule), status=201)


async def get_rule(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "get_rule", name)
    return encode(broker.get_rule(name.topic, name.subscription, request.match_info["rule"]))


async def update_rule(request: web.Request) -> web.Response:
    name = _subscription(request)
    rule = _rule_body(request, await parse(request, RuleProperties, strict=False))
    broker = await _before(request, "update_rule", name)
    return encode(broker.update_rule(name.topic, name.subscription, rule))


async def delete_rule(request: web.Request) -> web.Response:
    name = _subscription(request)
    broker = await _before(request, "delete_rule", name)
    broker.delete_rule(name.topic, name.subscription, request.match_info["rule"])
    return no_content()
