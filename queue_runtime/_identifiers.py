"""Validated identifiers. Each is a ``str`` (usable anywhere a string is) that checked its value on creation.

The rules are the intersection of what Azure Service Bus and Amazon SQS accept, so a name that works on one
provider works on all of them:

- ``QueueName``: 1-80 characters, ASCII letters, digits, ``-`` and ``_``, starting and ending with a letter or
  digit (SQS: 80 characters of ``[A-Za-z0-9_-]``; Service Bus: letters, digits, ``.-_/``, start and end alphanumeric).
  Providers may add their own suffix (SQS adds ``.fifo``) and check the full name again.
- ``SubscriptionName``: a topic's subscription, the one spelling for receiving from it: ``SubscriptionName("orders",
  "audit")``, which *is* the string ``"orders/Subscriptions/audit"`` (Service Bus's entity path; that string is
  accepted wherever a queue name is). The subscription part: 1-50 characters, no ``/`` or ``\\``.
- ``SessionId`` and ``MessageId``: 1-128 printable ASCII characters without spaces (SQS MessageGroupId and
  MessageDeduplicationId rules; Service Bus allows 128 characters of anything).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from .errors import ValidationError

__all__ = ["MessageId", "QueueName", "SessionId", "SubscriptionName", "entity_name"]

_QUEUE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?")
_PRINTABLE_NO_SPACE = re.compile(r"[\x21-\x7e]+")


class _ValidatedStr(str):
    _field = "value"

    def __new__(cls, value: str) -> Self:
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise ValidationError(cls._field, f"must be a string, got {type(value).__name__}")
        cls._check(value)
        return super().__new__(cls, value)

    @classmethod
    def _check(cls, value: str) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())


class QueueName(_ValidatedStr):
    """A queue name that every provider accepts."""

    _field = "queue_name"
    MAX_LENGTH = 80

    @classmethod
    def _check(cls, value: str) -> None:
        if not value:
            raise ValidationError(cls._field, "must not be empty")
        if len(value) > cls.MAX_LENGTH:
            raise ValidationError(cls._field, f"must be at most {cls.MAX_LENGTH} characters, got {len(value)}")
        if not _QUEUE_NAME.fullmatch(value):
            raise ValidationError(
                cls._field,
                f"{value!r} may contain only ASCII letters, digits, '-' and '_', "
                "and must start and end with a letter or digit",
            )


_SUBSCRIPTION_PATH = re.compile(r"^(?P<topic>[^/]+)/subscriptions/(?P<sub>[^/]+)$", re.IGNORECASE)
_SUBSCRIPTION_PART = re.compile(r"[\x21-\x7e]+")


class SubscriptionName(QueueName):
    """A subscription of a topic, addressed like a queue: ``SubscriptionName("orders", "audit")`` equals
    ``"orders/Subscriptions/audit"``; ``.topic`` and ``.subscription`` give the parts back."""

    _field = "subscription_name"
    MAX_SUBSCRIPTION_LENGTH = 50
    topic: QueueName
    subscription: str

    def __new__(cls, topic: str, subscription: str | None = None) -> Self:
        if isinstance(topic, cls) and subscription is None:
            return topic
        if subscription is None:
            if not isinstance(topic, str):
                raise ValidationError(cls._field, f"must be a string, got {type(topic).__name__}")
            match = _SUBSCRIPTION_PATH.match(topic)
            if match is None:
                raise ValidationError(
                    cls._field, f"{topic!r} is not '<topic>/Subscriptions/<subscription>'"
                )
            topic, subscription = match["topic"], match["sub"]
        topic_name = QueueName(topic)
        if not isinstance(subscription, str) or not subscription:
            raise ValidationError(cls._field, "the subscription name must not be empty")
        if len(subscription) > cls.MAX_SUBSCRIPTION_LENGTH:
            raise ValidationError(
                cls._field,
                f"the subscription name must be at most {cls.MAX_SUBSCRIPTION_LENGTH} characters, "
                f"got {len(subscription)}",
            )
        if "/" in subscription or "\\" in subscription or not _SUBSCRIPTION_PART.fullmatch(subscription):
            raise ValidationError(
                cls._field, f"{subscription!r} must be printable ASCII without spaces, '/' or '\\'"
            )
        value = str.__new__(cls, f"{topic_name}/Subscriptions/{subscription}")
        value.topic = topic_name
        value.subscription = subscription
        return value

    def __repr__(self) -> str:
        return f"SubscriptionName({str(self.topic)!r}, {self.subscription!r})"

    def __reduce__(self) -> tuple[type[SubscriptionName], tuple[str, str]]:
        return SubscriptionName, (str(self.topic), self.subscription)


def entity_name(value: str) -> QueueName:
    """What a client call names: a :class:`SubscriptionName` (or its path spelling) or else a queue or topic."""
    if isinstance(value, QueueName):
        return value
    if isinstance(value, str) and "/" in value:
        return SubscriptionName(value)
    return QueueName(value)


class _PrintableId(_ValidatedStr):
    MAX_LENGTH = 128

    @classmethod
    def _check(cls, value: str) -> None:
        if not value:
            raise ValidationError(cls._field, "must not be empty")
        if len(value) > cls.MAX_LENGTH:
            raise ValidationError(cls._field, f"must be at most {cls.MAX_LENGTH} characters, got {len(value)}")
        if not _PRINTABLE_NO_SPACE.fullmatch(value):
            raise ValidationError(
                cls._field, f"{value!r} may contain only printable ASCII characters without spaces"
            )


class SessionId(_PrintableId):
    """Groups messages that must be processed in order, one receiver at a time."""

    _field = "session_id"


class MessageId(_PrintableId):
    """Identifies a message; also the key of duplicate detection."""

    _field = "message_id"

    @classmethod
    def new(cls) -> MessageId:
        return MessageId(uuid.uuid4().hex)
