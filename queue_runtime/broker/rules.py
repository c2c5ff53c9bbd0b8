"""Subscription rules, compiled once when a rule is created: a filter that decides whether a published message
reaches the subscription, and an optional action applied to the subscription's copy.

SQL filters and actions come from :mod:`queue_runtime.broker.sql`; correlation filters compare fields directly.
The ``system`` mapping handed to SQL is keyed by Service Bus's lower-case system property names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._topics import CorrelationFilter, FalseFilter, RuleProperties, SqlFilter, SqlRuleAction, TrueFilter
from .records import BrokerMessage

__all__ = ["CompiledRule", "Context", "compile_rule", "system_properties", "write_back_system"]

# Correlation filter field -> BrokerMessage attribute.
_CORRELATION_FIELDS = (
    ("correlation_id", "correlation_id"),
    ("message_id", "message_id"),
    ("to", "to"),
    ("reply_to", "reply_to"),
    ("subject", "subject"),
    ("session_id", "session_id"),
    ("reply_to_session_id", "reply_to_session_id"),
    ("content_type", "content_type"),
)

# SQL system property name -> BrokerMessage attribute, for those an action may change.
_WRITABLE_SYSTEM = {
    "messageid": "message_id",
    "correlationid": "correlation_id",
    "to": "to",
    "replyto": "reply_to",
    "label": "subject",
    "sessionid": "session_id",
    "replytosessionid": "reply_to_session_id",
    "contenttype": "content_type",
}


def system_properties(message: BrokerMessage) -> dict[str, Any]:
    """The ``sys.`` properties of a message as SQL filters see them."""
    return {
        "messageid": message.message_id,
        "correlationid": message.correlation_id,
        "to": message.to,
        "replyto": message.reply_to,
        "label": message.subject,
        "sessionid": message.session_id,
        "replytosessionid": message.reply_to_session_id,
        "contenttype": message.content_type,
        "timetolive": message.time_to_live,
        "scheduledenqueuetimeutc": message.scheduled_enqueue_time,
        "enqueuedtimeutc": message.enqueued_time,
        "sequencenumber": message.sequence_number,
        "deliverycount": message.delivery_count,
        "size": message.size,
    }


def write_back_system(message: BrokerMessage, system: Mapping[str, Any]) -> None:
    """Copy what an action set on the writable system properties back onto the message."""
    for key, attribute in _WRITABLE_SYSTEM.items():
        value = system.get(key)
        setattr(message, attribute, None if value is None else str(value))


class Context:
    """Per-publish cache: the system mapping is built once, and only if some SQL filter asks for it."""

    __slots__ = ("_system", "message")

    def __init__(self, message: BrokerMessage) -> None:
        self.message = message
        self._system: dict[str, Any] | None = None

    @property
    def system(self) -> dict[str, Any]:
        if self._system is None:
            self._system = system_properties(self.message)
        return self._system


Matcher = Callable[[Context], bool]
Action = Callable[[BrokerMessage], None]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    properties: RuleProperties
    matches: Matcher
    action: Action | None
    is_sql: bool
    is_correlation: bool

    @property
    def name(self) -> str:
        return self.properties.name

    @staticmethod
    def context(message: BrokerMessage) -> Context:
        return Context(message)


def _correlation(filter_: CorrelationFilter) -> Matcher:
    wanted = [
        (attr, getattr(filter_, name)) for name, attr in _CORRELATION_FIELDS if getattr(filter_, name) is not None
    ]
    props = list(filter_.properties.items())

    missing = object()

    if not wanted and len(props) == 1:  # the common routing filter: one application property
        ((only_key, only_value),) = props

        def one_property(context: Context) -> bool:
            found = context.message.application_properties.get(only_key, missing)
            return found is not missing and found == only_value

        return one_property

    def matches(context: Context) -> bool:
        message = context.message
        for attr, value in wanted:
            if getattr(message, attr) != value:
                return False
        if props:
            user = message.application_properties
            for key, value in props:
                found = user.get(key, missing)
                if found is missing or found != value:
                    return False
        return True

    return matches


# The SQL language (queue_runtime.broker.sql) is imported on the first SQL rule: topics without SQL rules never
# pay for loading the parser.


def _sql_filter(filter_: SqlFilter) -> Matcher:
    from .sql import compile_filter

    compiled = compile_filter(filter_.expression, parameters=filter_.parameters or None)

    def matches(context: Context) -> bool:
        return bool(compiled.matches(context.system, context.message.application_properties))

    return matches


def _sql_action(action: SqlRuleAction) -> Action:
    from .sql import compile_action

    compiled = compile_action(action.expression, parameters=action.parameters or None)

    def apply(message: BrokerMessage) -> None:
        system = system_properties(message)
        compiled.apply(system, message.application_properties)
        write_back_system(message, system)

    return apply


def _always(context: Context) -> bool:
    return True


def _never(context: Context) -> bool:
    return False


def compile_rule(rule: RuleProperties) -> CompiledRule:
    """Compile filter and action; an invalid SQL expression raises ``InvalidFilterError`` here, never later."""
    filter_ = rule.filter
    matcher: Matcher
    if isinstance(filter_, TrueFilter):
        matcher = _always
    elif isinstance(filter_, FalseFilter):
        matcher = _never
    elif isinstance(filter_, CorrelationFilter):
        matcher = _correlation(filter_)
    else:
        matcher = _sql_filter(filter_)
    action = _sql_action(rule.action) if rule.action is not None else None
    return CompiledRule(
        properties=rule,
        matches=matcher,
        action=action,
        is_sql=isinstance(filter_, SqlFilter),
        is_correlation=isinstance(filter_, CorrelationFilter),
    )
