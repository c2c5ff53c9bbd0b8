"""The Service Bus administration endpoint: the Atom XML management protocol over HTTP(S), as the
``ServiceBusAdministrationClient`` of the Azure SDKs speaks it, translated onto the broker engine.

Routes (path segments ``subscriptions`` and ``rules`` in any case, as Service Bus accepts them)::

    GET                  /$namespaceinfo
    GET                  /$Resources/queues | /$Resources/topics            ?$skip=&$top=
    GET PUT DELETE       /{queue or topic}
    GET                  /{topic}/subscriptions                              ?$skip=&$top=
    GET PUT DELETE       /{topic}/subscriptions/{subscription}
    GET                  /{topic}/subscriptions/{subscription}/rules         ?$skip=&$top=
    GET PUT DELETE       /{topic}/subscriptions/{subscription}/rules/{rule}

``PUT`` creates (409 if the entity exists); ``PUT`` with ``If-Match`` updates (404 if it does not).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode
from xml.etree.ElementTree import Element

from aiohttp import web

from queue_runtime import RuleProperties, SqlFilter
from queue_runtime.broker import Broker
from queue_runtime.errors import QueueNotFoundError

from ..sas import SasVerifier
from .atom import element, entry, feed, fields_of, parse_description, serialize
from .descriptions import (
    QUEUE_FIELDS,
    SUBSCRIPTION_FIELDS,
    TOPIC_FIELDS,
    FieldStore,
    Stored,
    queue_description,
    queue_options,
    rule_description,
    rule_from,
    stored_fields,
    subscription_description,
    subscription_options,
    topic_description,
    topic_options,
)
from .errors import AdminError, error_middleware, error_response

__all__ = ["NAMESPACE_NAME", "AdminState", "create_admin_app"]

NAMESPACE_NAME = "queue-emulator"
_ENTRY = "application/atom+xml;type=entry;charset=utf-8"
_FEED = "application/atom+xml;type=feed;charset=utf-8"
_SUB_PATH = re.compile(r"^(?P<topic>.+?)/subscriptions/(?P<sub>[^/]+)(?:/(?P<rules>rules)(?:/(?P<rule>[^/]+))?)?$",
                       re.IGNORECASE)
_SUBS_LIST = re.compile(r"^(?P<topic>.+?)/subscriptions$", re.IGNORECASE)
_MAX_TOP = 100


@dataclass(slots=True)
class AdminState:
    broker: Callable[[], Broker]
    verifier: SasVerifier
    store: FieldStore
    started: datetime


STATE: web.AppKey[AdminState] = web.AppKey("admin_state", AdminState)


def create_admin_app(state: AdminState) -> web.Application:
    app = web.Application(middlewares=[_auth_middleware, error_middleware])
    app[STATE] = state
    app.router.add_route("*", "/{path:.*}", _dispatch)
    return app


@web.middleware
async def _auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    verifier = request.app[STATE].verifier
    if verifier.enabled:
        # The same rules as the AMQP front; managing entities needs the Manage right, as on Service Bus.
        token = request.headers.get("Authorization")
        grant = "the request has no Authorization header" if token is None else verifier.check(token)
        if isinstance(grant, str):
            return error_response(401, f"InvalidSignature: {grant}")
        if "Manage" not in grant.rights:
            return error_response(401, f"Unauthorized: rule {grant.rule!r} lacks the Manage right this operation needs")
    return await handler(request)


# ---------------------------------------------------------------------------------------------- helpers


def _now(state: AdminState) -> datetime:
    return datetime.fromtimestamp(state.broker().clock.now(), UTC)


def _self_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{quote(request.path)}" + (
        f"?{request.query_string}" if request.query_string else "")


def _answer(node: Element, status: int = 200, content_type: str = _ENTRY) -> web.Response:
    return web.Response(status=status, body=serialize(node), headers={"Content-Type": content_type})


def _entry(request: web.Request, title: str, created: datetime, updated: datetime, content: Element,
           url: str | None = None) -> Element:
    return entry(url=url or _self_url(request), title=title, published=created, updated=updated,
                 author=NAMESPACE_NAME, content=content)


def _paging(request: web.Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise AdminError(400, f"{name} must be an integer, got {raw!r}") from None
        if value < 0:
            raise AdminError(400, f"{name} cannot be negative")
        return value

    return number("$skip", 0), min(number("$top", _MAX_TOP), _MAX_TOP)


def _feed(request: web.Request, title: str, names: list[str], make: Callable[[str, str], Element],
          path_of: Callable[[str], str] = lambda name: name) -> web.Response:
    """One page of ``names`` (``$skip``/``$top``, at most 100), with a ``next`` link while more remain."""
    skip, top = _paging(request)
    page = names[skip: skip + top]
    base = f"{request.scheme}://{request.host}{quote(request.path)}"
    api = request.query.get("api-version")

    def url(start: int) -> str:
        query = {"$skip": str(start), "$top": str(top)}
        if api is not None:
            query["api-version"] = api
        return f"{base}?{urlencode(query, safe='$')}"

    next_url = url(skip + top) if top and skip + top < len(names) else None
    entries = [make(name, _entity_url(request, path_of(name))) for name in page]
    return _answer(feed(url=url(skip), title=title, updated=_now(request.app[STATE]), next_url=next_url,
                        entries=entries), content_type=_FEED)


def _entity_url(request: web.Request, path: str) -> str:
    api = request.query.get("api-version")
    return f"{request.scheme}://{request.host}/{quote(path)}" + (f"?api-version={api}" if api else "")


async def _body(request: web.Request) -> bytes:
    return await request.read()


def _is_update(request: web.Request) -> bool:
    return "If-Match" in request.headers


# ---------------------------------------------------------------------------------------------- queue/topic


class _ForwardingTargets:
    """Service Bus answers 400 with sub-code 40400 (not a 404) when a forwarding destination does not exist: the
    entity named in the URL is there, the one named in the body is not ("SubCode=40400. The auto forwarding
    destination entity does not exist.")."""

    def __init__(self, *targets: str | None) -> None:
        self._targets = {t for t in targets if t}

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, QueueNotFoundError) and exc.queue in self._targets:
            raise AdminError(400, f"The auto forwarding destination entity does not exist: '{exc.queue}' "
                                  f"({exc.message}).", subcode=40400) from exc


def _queue_entry(request: web.Request, name: str, url: str | None = None) -> Element:
    state = request.app[STATE]
    queue = state.broker().get_queue(name)
    stored = state.store.get(name)
    content = queue_description(queue, stored, request.host)
    updated = stored.updated_at if stored else queue.created_at
    return _entry(request, name, queue.created_at, updated, content, url)


def _topic_entry(request: web.Request, name: str, url: str | None = None) -> Element:
    state = request.app[STATE]
    broker = state.broker()
    topic = broker.get_topic(name)
    stored = state.store.get(name)
    sql = correlation = 0
    for sub in broker.subscription_names(name):
        for rule in broker.rules(name, sub):
            sql += isinstance(rule.filter, SqlFilter)
            correlation += rule.filter.kind == "correlation"
    content = topic_description(topic, stored, (sql, correlation))
    updated = stored.updated_at if stored else topic.created_at
    return _entry(request, name, topic.created_at, updated, content, url)


def _get_entity(request: web.Request, name: str) -> web.Response:
    broker = request.app[STATE].broker()
    if broker.has_topic(name):
        return _answer(_topic_entry(request, name))
    if broker.has_queue(name):
        return _answer(_queue_entry(request, name))
    raise AdminError(404, f"Entity '{name}' was not found. To know more visit https://aka.ms/sbResourceMgrExceptions.")


async def _put_entity(request: web.Request, name: str) -> web.Response:
    state = request.app[STATE]
    broker = state.broker()
    kind, description = parse_description(await _body(request), ("QueueDescription", "TopicDescription"))
    update = _is_update(request)
    now = _now(state)
    if kind == "QueueDescription":
        fields = fields_of(description, QUEUE_FIELDS, kind)
        kept = stored_fields(fields, kind)
        if update and not broker.has_queue(name):
            raise AdminError(404, f"Queue '{name}' was not found.")
        options = queue_options(fields, broker.get_queue(name).options if update else None)
        with _ForwardingTargets(options.forward_to, options.forward_dead_lettered_messages_to):
            props = broker.update_queue(name, options) if update else broker.create_queue(name, options)
        state.store.put(name, Stored(now if update else props.created_at, kept))
        return _answer(_queue_entry(request, name), 200 if update else 201)
    fields = fields_of(description, TOPIC_FIELDS, kind)
    kept = stored_fields(fields, kind)
    if update:
        if not broker.has_topic(name):
            raise AdminError(404, f"Topic '{name}' was not found.")
        topic = broker.update_topic(name, topic_options(fields, broker.get_topic(name).options))
    else:
        topic = broker.create_topic(name, topic_options(fields, None))
    state.store.put(name, Stored(now if update else topic.created_at, kept))
    return _answer(_topic_entry(request, name), 200 if update else 201)


def _delete_entity(request: web.Request, name: str) -> web.Response:
    state = request.app[STATE]
    broker = state.broker()
    if broker.has_topic(name):
        broker.delete_topic(name)
    else:
        broker.delete_queue(name)
    return web.Response(status=200)


# ---------------------------------------------------------------------------------------------- subscriptions


def _subscription_entry(request: web.Request, topic: str, name: str, url: str | None = None) -> Element:
    state = request.app[STATE]
    sub = state.broker().get_subscription(topic, name)
    stored = state.store.get(sub.path)
    content = subscription_description(sub, stored, request.host)
    updated = stored.updated_at if stored else sub.created_at
    return _entry(request, name, sub.created_at, updated, content, url)


async def _put_subscription(request: web.Request, topic: str, name: str) -> web.Response:
    state = request.app[STATE]
    broker = state.broker()
    kind, description = parse_description(await _body(request), ("SubscriptionDescription",))
    fields = fields_of(description, SUBSCRIPTION_FIELDS, kind)
    kept = stored_fields(fields, kind)
    now = _now(state)
    update = _is_update(request)
    options = subscription_options(fields, broker.get_subscription(topic, name).options if update else None)
    with _ForwardingTargets(options.forward_to, options.forward_dead_lettered_messages_to):
        if update:
            props = broker.update_subscription(topic, name, options)
        else:
            default_rule = fields.get("DefaultRuleDescription")
            rule = None if default_rule is None else rule_from(default_rule, None)
            props = broker.create_subscription(topic, name, options, rule)
    state.store.put(props.path, Stored(now if update else props.created_at, kept))
    return _answer(_subscription_entry(request, topic, name), 200 if update else 201)


# ---------------------------------------------------------------------------------------------- rules


def _rule_entry(request: web.Request, rule: RuleProperties, url: str | None = None) -> Element:
    created = rule.created_at or request.app[STATE].started
    return _entry(request, rule.name, created, created, rule_description(rule), url)


async def _put_rule(request: web.Request, topic: str, sub: str, name: str) -> web.Response:
    broker = request.app[STATE].broker()
    _, description = parse_description(await _body(request), ("RuleDescription",))
    rule = rule_from(description, name)
    if _is_update(request):
        return _answer(_rule_entry(request, broker.update_rule(topic, sub, rule)), 200)
    return _answer(_rule_entry(request, broker.create_rule(topic, sub, rule)), 201)


# ---------------------------------------------------------------------------------------------- dispatch


def _namespace(request: web.Request) -> web.Response:
    state = request.app[STATE]
    info = Element("{http://schemas.microsoft.com/netservices/2010/10/servicebus/connect}NamespaceInfo")
    element(info, "CreatedTime", state.started.isoformat().replace("+00:00", "Z"))
    element(info, "MessagingSKU", "Standard")
    element(info, "MessagingUnits", "0")
    element(info, "ModifiedTime", state.started.isoformat().replace("+00:00", "Z"))
    element(info, "Name", NAMESPACE_NAME)
    element(info, "NamespaceType", "Messaging")
    return _answer(_entry(request, NAMESPACE_NAME, state.started, state.started, info))


async def _dispatch(request: web.Request) -> web.StreamResponse:
    path = request.match_info["path"].strip("/")
    method = request.method
    broker = request.app[STATE].broker()
    if not path:
        raise AdminError(404, "no entity path in the request")
    lowered = path.lower()
    if lowered == "$namespaceinfo" and method == "GET":
        return _namespace(request)
    if lowered in ("$resources/queues", "$resources/topics") and method == "GET":
        if lowered.endswith("queues"):
            return _feed(request, "Queues", broker.queue_names(), lambda n, u: _queue_entry(request, n, u))
        return _feed(request, "Topics", broker.topic_names(), lambda n, u: _topic_entry(request, n, u))
    if lowered.startswith("$"):
        raise AdminError(404, f"unknown resource '/{path}'")
    listed = _SUBS_LIST.match(path)
    if listed is not None:
        topic = listed["topic"]
        if method != "GET":
            raise AdminError(405, f"{method} is not allowed on /{path}")
        names = broker.subscription_names(topic)
        return _feed(request, "Subscriptions", names, lambda n, u: _subscription_entry(request, topic, n, u),
                     lambda n: f"{topic}/subscriptions/{n}")
    match = _SUB_PATH.match(path)
    if match is not None:
        return await _subscription_routes(request, method, match)
    if method == "GET":
        return _get_entity(request, path)
    if method == "PUT":
        return await _put_entity(request, path)
    if method == "DELETE":
        return _delete_entity(request, path)
    raise AdminError(405, f"{method} is not allowed on /{path}")


async def _subscription_routes(request: web.Request, method: str, match: re.Match[str]) -> web.StreamResponse:
    state = request.app[STATE]
    broker = state.broker()
    topic, sub, rules, rule = match["topic"], match["sub"], match["rules"], match["rule"]
    if rules is None:
        if method == "GET":
            return _answer(_subscription_entry(request, topic, sub))
        if method == "PUT":
            return await _put_subscription(request, topic, sub)
        if method == "DELETE":
            broker.delete_subscription(topic, sub)
            return web.Response(status=200)
    elif rule is None:
        if method == "GET":
            listed = {r.name: r for r in broker.rules(topic, sub)}
            return _feed(request, "Rules", list(listed), lambda n, u: _rule_entry(request, listed[n], u),
                         lambda n: f"{topic}/subscriptions/{sub}/rules/{n}")
    else:
        if method == "GET":
            return _answer(_rule_entry(request, broker.get_rule(topic, sub, rule)))
        if method == "PUT":
            return await _put_rule(request, topic, sub, rule)
        if method == "DELETE":
            broker.delete_rule(topic, sub, rule)
            return web.Response(status=200)
    raise AdminError(405, f"{method} is not allowed on /{match.string}")
