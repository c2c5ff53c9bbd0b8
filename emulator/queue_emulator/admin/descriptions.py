"""Entity descriptions <-> the engine's options, and the fields the engine keeps no trace of.

Each description's fields are listed in the order the ``azure-servicebus`` management client serialises them.
A field is one of three things:

- *engine*: becomes part of :class:`~queue_runtime.QueueOptions` (or the topic/subscription options) and is
  enforced by the broker engine (lock duration, max delivery count, TTL, duplicate detection, sessions,
  dead-lettering, forwarding, size limit);
- *stored*: kept as sent (by the engine, with the entity: :class:`FieldStore`) and answered back, but not
  enforced (status, auto-delete on idle, partitioning, express, batched operations, authorization rules, user
  metadata, ordering, ...);
- *read-only*: computed on every answer (counts, sizes, timestamps, availability); accepted in a request (the
  SDK sends some back on update) and ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, tostring

from defusedxml.ElementTree import fromstring

from queue_runtime import (
    CorrelationFilter,
    FalseFilter,
    QueueOptions,
    QueueProperties,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
    TrueFilter,
)
from queue_runtime.broker import Broker

from .atom import (
    SB,
    AtomError,
    Field,
    counts_element,
    element,
    fields_of,
    format_duration,
    key_values,
    parse_bool,
    parse_duration,
    parse_int,
    parse_key_values,
    timestamp,
    xsi_type,
)

__all__ = [
    "QUEUE_FIELDS",
    "RULE_FIELDS",
    "STORED",
    "SUBSCRIPTION_FIELDS",
    "TOPIC_FIELDS",
    "FieldStore",
    "Stored",
    "queue_description",
    "queue_options",
    "rule_description",
    "rule_from",
    "subscription_description",
    "subscription_options",
    "topic_description",
    "topic_options",
]

_MB = 1024 * 1024
_DEFAULT_MAX_SIZE_MB = 1024
_DEFAULT_DUPLICATE_WINDOW = timedelta(minutes=10)
_EPOCH = "0001-01-01T00:00:00Z"
_STATUSES = ("Active", "Disabled", "SendDisabled", "ReceiveDisabled", "Creating", "Deleting", "Renaming",
             "Restoring", "Unknown")

QUEUE_FIELDS = (
    Field("LockDuration", "duration"),
    Field("MaxSizeInMegabytes", "int"),
    Field("RequiresDuplicateDetection", "bool"),
    Field("RequiresSession", "bool"),
    Field("DefaultMessageTimeToLive", "duration"),
    Field("DeadLetteringOnMessageExpiration", "bool"),
    Field("DuplicateDetectionHistoryTimeWindow", "duration"),
    Field("MaxDeliveryCount", "int"),
    Field("EnableBatchedOperations", "bool"),
    Field("SizeInBytes", "readonly"),
    Field("MessageCount", "readonly"),
    Field("IsAnonymousAccessible", "bool"),
    Field("AuthorizationRules", "xml"),
    Field("Status", "str"),
    Field("CreatedAt", "readonly"),
    Field("UpdatedAt", "readonly"),
    Field("AccessedAt", "readonly"),
    Field("SupportOrdering", "bool"),
    Field("CountDetails", "readonly"),
    Field("AutoDeleteOnIdle", "duration"),
    Field("EnablePartitioning", "bool"),
    Field("EntityAvailabilityStatus", "readonly"),
    Field("EnableExpress", "bool"),
    Field("ForwardTo", "str"),
    Field("UserMetadata", "str"),
    Field("ForwardDeadLetteredMessagesTo", "str"),
    Field("MaxMessageSizeInKilobytes", "int"),
)

TOPIC_FIELDS = (
    Field("DefaultMessageTimeToLive", "duration"),
    Field("MaxSizeInMegabytes", "int"),
    Field("RequiresDuplicateDetection", "bool"),
    Field("DuplicateDetectionHistoryTimeWindow", "duration"),
    Field("EnableBatchedOperations", "bool"),
    Field("SizeInBytes", "readonly"),
    Field("FilteringMessagesBeforePublishing", "bool"),
    Field("IsAnonymousAccessible", "bool"),
    Field("AuthorizationRules", "xml"),
    Field("Status", "str"),
    Field("CreatedAt", "readonly"),
    Field("UpdatedAt", "readonly"),
    Field("AccessedAt", "readonly"),
    Field("SupportOrdering", "bool"),
    Field("CountDetails", "readonly"),
    Field("SubscriptionCount", "readonly"),
    Field("SqlFilterCount", "readonly"),
    Field("CorrelationFilterCount", "readonly"),
    Field("AutoDeleteOnIdle", "duration"),
    Field("EnablePartitioning", "bool"),
    Field("EntityAvailabilityStatus", "readonly"),
    Field("EnableSubscriptionPartitioning", "bool"),
    Field("EnableExpress", "bool"),
    Field("UserMetadata", "str"),
    Field("MaxMessageSizeInKilobytes", "int"),
)

SUBSCRIPTION_FIELDS = (
    Field("LockDuration", "duration"),
    Field("RequiresSession", "bool"),
    Field("DefaultMessageTimeToLive", "duration"),
    Field("DeadLetteringOnMessageExpiration", "bool"),
    Field("DeadLetteringOnFilterEvaluationExceptions", "bool"),
    Field("MessageCount", "readonly"),
    Field("MaxDeliveryCount", "int"),
    Field("EnableBatchedOperations", "bool"),
    Field("Status", "str"),
    Field("ForwardTo", "str"),
    Field("CreatedAt", "readonly"),
    Field("UpdatedAt", "readonly"),
    Field("AccessedAt", "readonly"),
    Field("CountDetails", "readonly"),
    Field("ForwardDeadLetteredMessagesTo", "str"),
    Field("AutoDeleteOnIdle", "duration"),
    Field("EntityAvailabilityStatus", "readonly"),
    Field("UserMetadata", "str"),
    Field("DefaultRuleDescription", "xml"),
)

RULE_FIELDS = (Field("Filter", "xml"), Field("Action", "xml"), Field("CreatedAt", "readonly"), Field("Name", "str"))

# Stored, not enforced, with what is answered when the client never set them.
STORED: dict[str, str | None] = {
    "EnableBatchedOperations": "true",
    "IsAnonymousAccessible": "false",
    "AuthorizationRules": "",
    "Status": "Active",
    "SupportOrdering": "true",
    "AutoDeleteOnIdle": "P10675199DT2H48M5.4775807S",
    "EnablePartitioning": "false",
    "EnableExpress": "false",
    "FilteringMessagesBeforePublishing": "false",
    "EnableSubscriptionPartitioning": "false",
    "UserMetadata": None,
    "MaxMessageSizeInKilobytes": None,
    "DuplicateDetectionHistoryTimeWindow": "PT10M",
}


_DURATIONS = {"AutoDeleteOnIdle", "DuplicateDetectionHistoryTimeWindow"}
_BOOLEANS = {"EnableBatchedOperations", "IsAnonymousAccessible", "SupportOrdering", "EnablePartitioning",
             "EnableExpress", "FilteringMessagesBeforePublishing", "EnableSubscriptionPartitioning"}


@dataclass(slots=True)
class Stored:
    """The stored-not-enforced fields of one entity and when the administration endpoint last changed it."""

    updated_at: datetime
    fields: dict[str, Element] = field(default_factory=dict)


# The key of the endpoint's fields in the engine's extensions of an entity.
_EXTENSION = "admin"


class FieldStore:
    """The stored-not-enforced fields, kept by the engine with each entity (``Broker.set_extensions``): they go
    when the entity is deleted (a re-created entity does not inherit them) and into a data directory with it."""

    def __init__(self, broker: Callable[[], Broker]) -> None:
        self._broker = broker

    def get(self, path: str) -> Stored | None:
        extensions, updated_at = self._broker().extensions(path)
        kept = extensions.get(_EXTENSION)
        if kept is None or updated_at is None:
            return None
        return Stored(datetime.fromtimestamp(updated_at, UTC), {name: fromstring(text) for name, text in kept.items()})

    def put(self, path: str, stored: Stored) -> None:
        broker = self._broker()
        extensions, _ = broker.extensions(path)
        extensions[_EXTENSION] = {name: tostring(node, encoding="unicode") for name, node in stored.fields.items()}
        broker.set_extensions(path, extensions, stored.updated_at.timestamp())


# ---------------------------------------------------------------------------------------------- requests


def _text(fields: dict[str, Element], name: str) -> str | None:
    node = fields.get(name)
    return None if node is None else (node.text or "")


def _entity_name(value: str | None) -> str | None:
    """``ForwardTo`` arrives as the SDK writes it, ``sb://host[:port]/name``; the engine takes the name."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "://" in value:
        value = value.split("://", 1)[1].partition("/")[2]
    return value.strip("/") or None


def stored_fields(fields: dict[str, Element], what: str) -> dict[str, Element]:
    """The stored-not-enforced fields of a request, durations and booleans in their canonical spelling."""
    kept = {name: copy.deepcopy(node) for name, node in fields.items() if name in STORED}
    for name, node in kept.items():
        if name in _DURATIONS:
            node.text = format_duration(parse_duration(node.text, f"<{what}><{name}>"))
        elif name in _BOOLEANS:
            node.text = "true" if parse_bool(node.text, f"<{what}><{name}>") else "false"
    status = kept.get("Status")
    if status is not None and (status.text or "").strip() not in _STATUSES:
        raise AtomError(f"<{what}><Status>: {status.text!r} is not one of {', '.join(_STATUSES)}")
    return kept


def _common(fields: dict[str, Element], current: dict[str, Any], what: str) -> dict[str, Any]:
    values = dict(current)
    where = f"<{what}>"
    if "LockDuration" in fields:
        values["lock_duration"] = parse_duration(_text(fields, "LockDuration"), f"{where}<LockDuration>")
    if "RequiresSession" in fields:
        values["requires_session"] = parse_bool(_text(fields, "RequiresSession"), where)
    if "DefaultMessageTimeToLive" in fields:
        values["default_message_ttl"] = parse_duration(_text(fields, "DefaultMessageTimeToLive"), where)
    if "DeadLetteringOnMessageExpiration" in fields:
        values["dead_lettering_on_message_expiration"] = parse_bool(
            _text(fields, "DeadLetteringOnMessageExpiration"), where)
    if "MaxDeliveryCount" in fields:
        values["max_delivery_count"] = parse_int(_text(fields, "MaxDeliveryCount"), where)
    if "ForwardTo" in fields:
        values["forward_to"] = _entity_name(_text(fields, "ForwardTo"))
    if "ForwardDeadLetteredMessagesTo" in fields:
        values["forward_dead_lettered_messages_to"] = _entity_name(_text(fields, "ForwardDeadLetteredMessagesTo"))
    if "MaxSizeInMegabytes" in fields:
        size = parse_int(_text(fields, "MaxSizeInMegabytes"), where)
        if size <= 0:
            raise AtomError(f"{where}<MaxSizeInMegabytes> must be positive")
        values["max_size_bytes"] = size * _MB
    if "RequiresDuplicateDetection" in fields or "DuplicateDetectionHistoryTimeWindow" in fields:
        required = (parse_bool(_text(fields, "RequiresDuplicateDetection"), where)
                    if "RequiresDuplicateDetection" in fields else values.get("duplicate_detection_window") is not None)
        window = (parse_duration(_text(fields, "DuplicateDetectionHistoryTimeWindow"), where)
                  if "DuplicateDetectionHistoryTimeWindow" in fields else None)
        values["duplicate_detection_window"] = (window or _DEFAULT_DUPLICATE_WINDOW) if required else None
    if values.get("lock_duration", timedelta(seconds=30)) is None:
        raise AtomError(f"{where}<LockDuration> cannot be infinite")
    return values


def queue_options(fields: dict[str, Element], current: QueueOptions | None) -> QueueOptions:
    values = _common(fields, current.model_dump() if current else {}, "QueueDescription")
    return QueueOptions.model_validate(values)


def topic_options(fields: dict[str, Element], current: TopicOptions | None) -> TopicOptions:
    values = _common(fields, current.model_dump() if current else {}, "TopicDescription")
    return TopicOptions.model_validate(values)


def subscription_options(fields: dict[str, Element], current: SubscriptionOptions | None) -> SubscriptionOptions:
    values = _common(fields, current.model_dump() if current else {}, "SubscriptionDescription")
    if "DeadLetteringOnFilterEvaluationExceptions" in fields:
        values["dead_lettering_on_filter_evaluation_exceptions"] = parse_bool(
            _text(fields, "DeadLetteringOnFilterEvaluationExceptions"), "<SubscriptionDescription>")
    return SubscriptionOptions.model_validate(values)


_CORRELATION = {
    "CorrelationId": "correlation_id", "MessageId": "message_id", "To": "to", "ReplyTo": "reply_to",
    "Label": "subject", "SessionId": "session_id", "ReplyToSessionId": "reply_to_session_id",
    "ContentType": "content_type",
}
_SQL_PARTS = ("SqlExpression", "CompatibilityLevel", "Parameters", "RequiresPreprocessing")


def _children(node: Element, allowed: tuple[str, ...], where: str) -> dict[str, Element]:
    found: dict[str, Element] = {}
    for child in node:
        name = child.tag.rpartition("}")[2]
        if name not in allowed or not child.tag.startswith(f"{{{SB}}}"):
            raise AtomError(f"{where} has no field <{name}>")
        found[name] = child
    return found


def rule_from(description: Element, name: str | None) -> RuleProperties:
    """A ``RuleDescription`` (or a subscription's ``DefaultRuleDescription``) as engine rule properties."""
    fields = fields_of(description, RULE_FIELDS, "RuleDescription")
    rule_name = name or (_text(fields, "Name") or "").strip() or RuleProperties().name  # "$Default"
    filter_node = fields.get("Filter")
    rule_filter: TrueFilter | FalseFilter | CorrelationFilter | SqlFilter = TrueFilter()
    if filter_node is not None:
        kind = xsi_type(filter_node)
        where = f"<Filter i:type={kind!r}>"
        if kind == "SqlFilter":
            parts = _children(filter_node, _SQL_PARTS, where)
            expression = parts.get("SqlExpression")
            if expression is None or not (expression.text or "").strip():
                raise AtomError(f"{where} needs a <SqlExpression>")
            rule_filter = SqlFilter(expression=expression.text or "",
                                    parameters=parse_key_values(parts.get("Parameters"), where))
        elif kind == "CorrelationFilter":
            parts = _children(filter_node, (*_CORRELATION, "Properties"), where)
            values: dict[str, Any] = {attr: parts[tag].text for tag, attr in _CORRELATION.items() if tag in parts}
            values["properties"] = parse_key_values(parts.get("Properties"), where)
            rule_filter = CorrelationFilter.model_validate(values)
        elif kind == "TrueFilter":
            _children(filter_node, _SQL_PARTS, where)
        elif kind == "FalseFilter":
            _children(filter_node, _SQL_PARTS, where)
            rule_filter = FalseFilter()
        else:
            raise AtomError(f"unknown filter type {kind!r} (SqlFilter, CorrelationFilter, TrueFilter, FalseFilter)")
    action: SqlRuleAction | None = None
    action_node = fields.get("Action")
    if action_node is not None:
        kind = xsi_type(action_node)
        where = f"<Action i:type={kind!r}>"
        if kind == "SqlRuleAction":
            parts = _children(action_node, _SQL_PARTS, where)
            expression = parts.get("SqlExpression")
            if expression is None or not (expression.text or "").strip():
                raise AtomError(f"{where} needs a <SqlExpression>")
            action = SqlRuleAction(expression=expression.text or "",
                                   parameters=parse_key_values(parts.get("Parameters"), where))
        elif kind == "EmptyRuleAction":
            _children(action_node, (), where)
        else:
            raise AtomError(f"unknown action type {kind!r} (SqlRuleAction, EmptyRuleAction)")
    return RuleProperties(name=rule_name, filter=rule_filter, action=action)


# ---------------------------------------------------------------------------------------------- answers


def _description(kind: str) -> Element:
    node = Element(f"{{{SB}}}{kind}")
    return node


def _write(node: Element, fields: tuple[Field, ...], values: dict[str, str | None],
           stored: Stored | None, extra: dict[str, Any]) -> None:
    """Every field in order: engine/read-only values from ``values``, stored ones as sent (or their default)."""
    for spec in fields:
        if spec.name in values:
            text = values[spec.name]
            if text is not None:
                element(node, spec.name, text)
        elif spec.name == "CountDetails":
            counts_element(node, extra["counts"])
        elif spec.name in STORED:
            kept = stored.fields.get(spec.name) if stored is not None else None
            if kept is not None:
                node.append(copy.deepcopy(kept))
            elif STORED[spec.name] is not None:
                element(node, spec.name, STORED[spec.name] or None)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _forward(value: str | None, host: str) -> str | None:
    return None if value is None else f"sb://{host}/{value}"


def _times(created: datetime, stored: Stored | None) -> dict[str, str | None]:
    return {
        "CreatedAt": timestamp(created),
        "UpdatedAt": timestamp(stored.updated_at if stored is not None else created),
        "AccessedAt": _EPOCH,
        "EntityAvailabilityStatus": "Available",
    }


def _size_mb(size: int | None) -> str:
    return str(_DEFAULT_MAX_SIZE_MB if size is None else max(1, size // _MB))


def queue_description(queue: QueueProperties, stored: Stored | None, host: str) -> Element:
    options = queue.options
    active = queue.active_count + queue.locked_count + queue.deferred_count
    values = {
        "LockDuration": format_duration(options.lock_duration),
        "MaxSizeInMegabytes": _size_mb(options.max_size_bytes),
        "RequiresDuplicateDetection": _bool(options.duplicate_detection_window is not None),
        "RequiresSession": _bool(options.requires_session),
        "DefaultMessageTimeToLive": format_duration(options.default_message_ttl),
        "DeadLetteringOnMessageExpiration": _bool(options.dead_lettering_on_message_expiration),
        "MaxDeliveryCount": str(options.max_delivery_count),
        "SizeInBytes": str(queue.size_bytes),
        "MessageCount": str(active + queue.scheduled_count + queue.dead_letter_count),
        "ForwardTo": _forward(options.forward_to, host),
        "ForwardDeadLetteredMessagesTo": _forward(options.forward_dead_lettered_messages_to, host),
        **_times(queue.created_at, stored),
    }
    if options.duplicate_detection_window is not None:
        values["DuplicateDetectionHistoryTimeWindow"] = format_duration(options.duplicate_detection_window)
    node = _description("QueueDescription")
    counts = [("ActiveMessageCount", active), ("DeadLetterMessageCount", queue.dead_letter_count),
              ("ScheduledMessageCount", queue.scheduled_count), ("TransferDeadLetterMessageCount", 0),
              ("TransferMessageCount", 0)]
    _write(node, QUEUE_FIELDS, values, stored, {"counts": counts})
    return node


def topic_description(topic: TopicProperties, stored: Stored | None, rules: tuple[int, int]) -> Element:
    options = topic.options
    values = {
        "DefaultMessageTimeToLive": format_duration(options.default_message_ttl),
        "MaxSizeInMegabytes": _size_mb(options.max_size_bytes),
        "RequiresDuplicateDetection": _bool(options.duplicate_detection_window is not None),
        "SizeInBytes": str(topic.size_bytes),
        "SubscriptionCount": str(topic.subscription_count),
        "SqlFilterCount": str(rules[0]),
        "CorrelationFilterCount": str(rules[1]),
        **_times(topic.created_at, stored),
    }
    if options.duplicate_detection_window is not None:
        values["DuplicateDetectionHistoryTimeWindow"] = format_duration(options.duplicate_detection_window)
    node = _description("TopicDescription")
    counts = [("ActiveMessageCount", 0), ("DeadLetterMessageCount", 0),
              ("ScheduledMessageCount", topic.scheduled_count), ("TransferDeadLetterMessageCount", 0),
              ("TransferMessageCount", 0)]
    _write(node, TOPIC_FIELDS, values, stored, {"counts": counts})
    return node


def subscription_description(sub: SubscriptionProperties, stored: Stored | None, host: str) -> Element:
    options = sub.options
    active = sub.active_count + sub.locked_count + sub.deferred_count
    values: dict[str, str | None] = {
        "LockDuration": format_duration(options.lock_duration),
        "RequiresSession": _bool(options.requires_session),
        "DefaultMessageTimeToLive": format_duration(options.default_message_ttl),
        "DeadLetteringOnMessageExpiration": _bool(options.dead_lettering_on_message_expiration),
        "DeadLetteringOnFilterEvaluationExceptions": _bool(options.dead_lettering_on_filter_evaluation_exceptions),
        "MessageCount": str(active + sub.scheduled_count + sub.dead_letter_count),
        "MaxDeliveryCount": str(options.max_delivery_count),
        "ForwardTo": _forward(options.forward_to, host),
        "ForwardDeadLetteredMessagesTo": _forward(options.forward_dead_lettered_messages_to, host),
        "DefaultRuleDescription": None,
        **_times(sub.created_at, stored),
    }
    node = _description("SubscriptionDescription")
    counts = [("ActiveMessageCount", active), ("DeadLetterMessageCount", sub.dead_letter_count),
              ("ScheduledMessageCount", sub.scheduled_count), ("TransferDeadLetterMessageCount", 0),
              ("TransferMessageCount", 0)]
    _write(node, SUBSCRIPTION_FIELDS, values, stored, {"counts": counts})
    return node


_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _sql_parts(node: Element, expression: str, parameters: dict[str, Any]) -> None:
    element(node, "SqlExpression", expression)
    element(node, "CompatibilityLevel", "20")
    if parameters:
        key_values(node, "Parameters", parameters)


def rule_description(rule: RuleProperties) -> Element:
    node = _description("RuleDescription")
    filter_node = element(node, "Filter")
    match rule.filter:
        case SqlFilter(expression=expression, parameters=parameters):
            filter_node.set(_XSI_TYPE, "SqlFilter")
            _sql_parts(filter_node, expression, parameters)
        case CorrelationFilter() as correlation:
            filter_node.set(_XSI_TYPE, "CorrelationFilter")
            for tag, attr in _CORRELATION.items():
                value = getattr(correlation, attr)
                if value is not None:
                    element(filter_node, tag, value)
            if correlation.properties:
                key_values(filter_node, "Properties", correlation.properties)
        case FalseFilter():
            filter_node.set(_XSI_TYPE, "FalseFilter")
            _sql_parts(filter_node, "1=0", {})
        case _:
            filter_node.set(_XSI_TYPE, "TrueFilter")
            _sql_parts(filter_node, "1=1", {})
    action_node = element(node, "Action")
    if rule.action is not None:
        action_node.set(_XSI_TYPE, "SqlRuleAction")
        _sql_parts(action_node, rule.action.expression, rule.action.parameters)
    else:
        action_node.set(_XSI_TYPE, "EmptyRuleAction")
    if rule.created_at is not None:
        element(node, "CreatedAt", timestamp(rule.created_at))
    element(node, "Name", rule.name)
    return node
