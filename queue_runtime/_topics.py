"""Publish/subscribe: what topics, subscriptions and rules are made with, and what can be read about them.

A topic is sent to like a queue and holds no messages itself; every subscription of the topic whose rules match
gets its own copy and is received from like a queue, addressed by a :class:`~queue_runtime.SubscriptionName`.
The filter and action kinds are Service Bus's: :class:`TrueFilter`, :class:`FalseFilter`,
:class:`CorrelationFilter`, :class:`SqlFilter` and :class:`SqlRuleAction`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ._queues import EntityDepths, QueueOptions

__all__ = [
    "DEFAULT_RULE_NAME",
    "CorrelationFilter",
    "FalseFilter",
    "RuleFilter",
    "RuleProperties",
    "SqlFilter",
    "SqlRuleAction",
    "SubscriptionOptions",
    "SubscriptionProperties",
    "TopicOptions",
    "TopicProperties",
    "TrueFilter",
]

DEFAULT_RULE_NAME = "$Default"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrueFilter(_Frozen):
    """Every message matches (the filter of the ``$Default`` rule)."""

    kind: Literal["true"] = "true"


class FalseFilter(_Frozen):
    """No message matches."""

    kind: Literal["false"] = "false"


class CorrelationFilter(_Frozen):
    """Matches when every field given equals the message's (``properties``: application properties, by value).

    Fields left ``None`` are not compared; a filter with nothing set matches every message.
    """

    kind: Literal["correlation"] = "correlation"
    correlation_id: str | None = None
    message_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    session_id: str | None = None
    reply_to_session_id: str | None = None
    content_type: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class SqlFilter(_Frozen):
    """A Service Bus SQL filter expression (see docs/filters.md), compiled once when the rule is created."""

    kind: Literal["sql"] = "sql"
    expression: str
    parameters: dict[str, Any] = Field(default_factory=dict)


RuleFilter = Annotated[TrueFilter | FalseFilter | CorrelationFilter | SqlFilter, Field(discriminator="kind")]


class SqlRuleAction(_Frozen):
    """``SET`` / ``REMOVE`` statements applied to the subscription's copy of a matched message."""

    kind: Literal["sql"] = "sql"
    expression: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class RuleProperties(_Frozen):
    """One rule of a subscription: a filter and an optional action."""

    name: str = DEFAULT_RULE_NAME
    filter: RuleFilter = Field(default_factory=TrueFilter)
    action: SqlRuleAction | None = None
    created_at: datetime | None = None


class TopicOptions(_Frozen):
    """Provisioning settings of a topic (Service Bus's): duplicate detection happens at the topic."""

    default_message_ttl: timedelta | None = None
    duplicate_detection_window: timedelta | None = None
    max_size_bytes: int | None = Field(default=None, ge=1)

    @field_validator("default_message_ttl", "duplicate_detection_window")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class SubscriptionOptions(_Frozen):
    """Provisioning settings of a subscription: those of a queue, plus filter-evaluation dead-lettering.

    ``forward_to`` / ``forward_dead_lettered_messages_to`` name a queue or topic that must exist.
    """

    requires_session: bool = False
    lock_duration: timedelta = Field(default=timedelta(seconds=30))
    max_delivery_count: int = Field(default=10, ge=1, le=2000)
    default_message_ttl: timedelta | None = None
    dead_lettering_on_message_expiration: bool = False
    dead_lettering_on_filter_evaluation_exceptions: bool = True
    forward_to: str | None = None
    forward_dead_lettered_messages_to: str | None = None

    @field_validator("lock_duration")
    @classmethod
    def _lock_duration_range(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=5):
            raise ValueError("lock_duration must be between 1 second and 5 minutes (Service Bus' range)")
        return value

    @field_validator("default_message_ttl")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    def queue_options(self) -> QueueOptions:
        """The settings the subscription's message store shares with a queue."""
        return QueueOptions(
            requires_session=self.requires_session,
            lock_duration=self.lock_duration,
            max_delivery_count=self.max_delivery_count,
            default_message_ttl=self.default_message_ttl,
            dead_lettering_on_message_expiration=self.dead_lettering_on_message_expiration,
            forward_to=self.forward_to,
            forward_dead_lettered_messages_to=self.forward_dead_lettered_messages_to,
        )


class TopicProperties(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    options: TopicOptions
    created_at: datetime
    subscription_count: int = 0
    scheduled_count: int = 0
    size_bytes: int = 0


class SubscriptionProperties(EntityDepths):
    """A subscription's settings and depths at one moment (the same counts as a queue's)."""

    topic: str
    name: str
    options: SubscriptionOptions
    created_at: datetime
    rule_count: int = 0

    @property
    def path(self) -> str:
        return f"{self.topic}/Subscriptions/{self.name}"
