"""The REST API's JSON shapes for topics, subscriptions and rules (durations in seconds, like queues')."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from queue_runtime import (
    RuleProperties,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
)

__all__ = [
    "RuleListResponse",
    "SubscriptionCreateRequest",
    "SubscriptionListResponse",
    "SubscriptionOptionsOut",
    "SubscriptionOverview",
    "SubscriptionPropertiesOut",
    "SubscriptionUpdateRequest",
    "TopicListResponse",
    "TopicOptionsOut",
    "TopicOverview",
    "TopicPropertiesOut",
    "TopicUpdateRequest",
]


class TopicOptionsOut(TopicOptions):
    model_config = ConfigDict(ser_json_timedelta="float")


class TopicPropertiesOut(TopicProperties):
    options: TopicOptionsOut

    @classmethod
    def of(cls, properties: TopicProperties) -> TopicPropertiesOut:
        values = dict(properties)
        values["options"] = TopicOptionsOut.model_construct(**dict(properties.options))
        return cls.model_construct(**values)


class TopicListResponse(BaseModel):
    topics: list[TopicPropertiesOut]


class TopicUpdateRequest(TopicOptions):
    """The settings to change; fields left out keep their value."""


class SubscriptionOptionsOut(SubscriptionOptions):
    model_config = ConfigDict(ser_json_timedelta="float")


class SubscriptionPropertiesOut(SubscriptionProperties):
    options: SubscriptionOptionsOut

    @classmethod
    def of(cls, properties: SubscriptionProperties) -> SubscriptionPropertiesOut:
        values = dict(properties)
        values["options"] = SubscriptionOptionsOut.model_construct(**dict(properties.options))
        return cls.model_construct(**values)


class SubscriptionListResponse(BaseModel):
    subscriptions: list[SubscriptionPropertiesOut]


class SubscriptionCreateRequest(SubscriptionOptions):
    """The subscription's settings and, optionally, its first rule (else ``$Default``, a true filter)."""

    rule: RuleProperties | None = None


class SubscriptionUpdateRequest(SubscriptionOptions):
    """The settings to change; fields left out keep their value."""


class RuleListResponse(BaseModel):
    rules: list[RuleProperties]


class SubscriptionOverview(BaseModel):
    properties: SubscriptionPropertiesOut
    rules: list[RuleProperties]


class TopicOverview(BaseModel):
    properties: TopicPropertiesOut
    subscriptions: list[SubscriptionOverview]
