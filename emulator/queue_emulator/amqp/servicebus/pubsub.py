"""Publish/subscribe over the Service Bus dialect: which links a topic or subscription accepts, and the rule
operations of a subscription's ``$management`` node (``com.microsoft:add-rule``, ``remove-rule``,
``enumerate-rules``, as the .NET rule manager sends them). Only translation: rules live in the engine.

Rules travel as maps on the way in (``rule-description`` with ``sql-filter`` / ``correlation-filter`` /
``sql-rule-action``) and as described lists on the way out (``com.microsoft:rule-description:list`` and friends).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from queue_runtime import (
    CorrelationFilter,
    FalseFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionName,
    TrueFilter,
)
from queue_runtime.broker import Broker

from ..protocol.errors import AmqpFault
from ..protocol.performatives import ErrorCondition
from ..protocol.types import Described, Timestamp, ULong
from .mapping import as_text

__all__ = ["check_link_direction", "rule_operations"]

RULE_DESCRIPTION = ULong(0x0000013700000004)
EMPTY_RULE_ACTION = ULong(0x0000013700000005)
SQL_RULE_ACTION = ULong(0x0000013700000006)
SQL_FILTER = ULong(0x0000013700000006)
TRUE_FILTER = ULong(0x0000013700000007)
FALSE_FILTER = ULong(0x0000013700000008)
CORRELATION_FILTER = ULong(0x0000013700000009)

# correlation-filter map keys (add-rule) in the order of the described list (enumerate-rules), and our fields
_CORRELATION_KEYS = (
    ("correlation-id", "correlation_id"),
    ("message-id", "message_id"),
    ("to", "to"),
    ("reply-to", "reply_to"),
    ("label", "subject"),
    ("session-id", "session_id"),
    ("reply-to-session-id", "reply_to_session_id"),
    ("content-type", "content_type"),
)

Operation = Callable[[str, dict[str, Any]], tuple[int, Any]]


def check_link_direction(kind: str, path: str, *, sending: bool) -> None:
    """A topic is only sent to; a subscription (and its dead-letter queue) only received from."""
    if kind == "topic" and not sending:
        raise AmqpFault(ErrorCondition.NOT_ALLOWED,
                        f"'{path}' is a topic: receive from one of its subscriptions ('{path}/Subscriptions/<name>')")
    if kind == "subscription" and sending:
        raise AmqpFault(ErrorCondition.NOT_ALLOWED, f"'{path}' is a subscription: send to its topic")


def _subscription(path: str) -> SubscriptionName:
    return SubscriptionName(path)


def _text_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {as_text(k) or "": v for k, v in value.items()}


def _rule_from_wire(name: str, description: dict[str, Any]) -> RuleProperties:
    sql = _text_map(description.get("sql-filter"))
    correlation = description.get("correlation-filter")
    action = _text_map(description.get("sql-rule-action"))
    filter_: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter
    if correlation is not None:
        fields = _text_map(correlation)
        values: dict[str, Any] = {
            ours: as_text(fields[key]) for key, ours in _CORRELATION_KEYS if fields.get(key) is not None
        }
        properties = fields.get("properties")
        values["properties"] = {as_text(k): v for k, v in (properties or {}).items()}
        filter_ = CorrelationFilter(**values)
    elif sql.get("expression") is not None:
        expression = as_text(sql["expression"]) or ""
        compact = expression.replace(" ", "")
        if compact == "1=1":
            filter_ = TrueFilter()
        elif compact == "1=0":
            filter_ = FalseFilter()
        else:
            filter_ = SqlFilter(expression=expression)
    else:
        filter_ = TrueFilter()
    rule_action = SqlRuleAction(expression=as_text(action["expression"]) or "") if action.get("expression") else None
    return RuleProperties(name=name, filter=filter_, action=rule_action)


def _filter_to_wire(rule: RuleProperties) -> Described:
    filter_ = rule.filter
    if isinstance(filter_, TrueFilter):
        return Described(TRUE_FILTER, ["1=1"])
    if isinstance(filter_, FalseFilter):
        return Described(FALSE_FILTER, ["1=0"])
    if isinstance(filter_, SqlFilter):
        return Described(SQL_FILTER, [filter_.expression])
    fields: list[Any] = [getattr(filter_, ours) for _, ours in _CORRELATION_KEYS]
    fields.append(dict(filter_.properties))
    return Described(CORRELATION_FILTER, fields)


def _rule_to_wire(rule: RuleProperties) -> dict[str, Any]:
    action = (Described(SQL_RULE_ACTION, [rule.action.expression]) if rule.action is not None
              else Described(EMPTY_RULE_ACTION, []))
    created = Timestamp.from_datetime(rule.created_at) if rule.created_at is not None else None
    return {"rule-description": Described(RULE_DESCRIPTION, [_filter_to_wire(rule), action, rule.name, created])}


def rule_operations(broker: Broker) -> dict[str, Operation]:
    def add_rule(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        sub = _subscription(path)
        name = as_text(body["rule-name"]) or ""
        broker.create_rule(sub.topic, sub.subscription, _rule_from_wire(name, _text_map(body["rule-description"])))
        return 200, {}

    def remove_rule(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        sub = _subscription(path)
        broker.delete_rule(sub.topic, sub.subscription, as_text(body["rule-name"]) or "")
        return 200, {}

    def enumerate_rules(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        sub = _subscription(path)
        skip = int(body.get("skip") or 0)
        top = int(body.get("top") or 100)
        page = broker.rules(sub.topic, sub.subscription)[skip : skip + top]
        if not page:
            return 204, None
        return 200, {"rules": [_rule_to_wire(rule) for rule in page]}

    return {
        "com.microsoft:add-rule": add_rule,
        "com.microsoft:remove-rule": remove_rule,
        "com.microsoft:enumerate-rules": enumerate_rules,
    }
