"""Validated identifiers. Each is a ``str`` (usable anywhere a string is) that checked its value on creation.

- ``QueueName``: Azure Service Bus' entity rule, the widest any provider accepts (1-260 characters of letters,
  digits, ``.``, ``-``, ``_``, ``/`` between segments; starting and ending with a letter or digit). Each provider
  then refuses what its own backend refuses, saying which rule and why: the engine (in-memory, emulator) refuses
  ``/``, SQS refuses ``.`` and ``/`` and more than 80 characters (see ``queue_runtime.broker.naming``). A name of
  ``[A-Za-z0-9_-]``, at most 75 characters, works everywhere.
- ``SubscriptionName``: a topic's subscription, the one spelling for receiving from it: ``SubscriptionName("orders",
  "audit")``, which *is* the string ``"orders/Subscriptions/audit"`` (Service Bus's entity path; that string is
  accepted wherever a queue name is). The subscription part: 1-50 characters, no ``/`` or ``\\``.
- ``SessionId`` and ``MessageId``: 1-128 printable ASCII characters without spaces (SQS MessageGroupId and
  MessageDeduplicationId rules; Service Bus allows 128 characters of anything).

These rules hold for what *we* send. What a broker delivers was sent by anyone (the Azure SDK, another language)
and may carry an id we would never send (a space, a non-ASCII letter): providers wrap it with ``delivered``,
which only asks for a non-empty string, so one foreign id never stops a consumer. Validate what we send, accept
what the broker delivers.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Self

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from .errors import ValidationError

__all__ = ["MessageId", "QueueName", "SessionId", "SubscriptionName", "entity_name"]

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

    @classmethod
    def delivered(cls, value: str) -> Self:
        """An identifier as a broker delivered it: any non-empty string, without our sending rules."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str) or not value:
            raise ValidationError(cls._field, f"a delivered {cls._field} must be a non-empty string, got {value!r}")
        return str.__new__(cls, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())


class QueueName(_ValidatedStr):
    """A queue name Azure Service Bus accepts; each provider checks its own rule on top."""

    _field = "queue_name"
    MAX_LENGTH = 260

    @classmethod
    def _check(cls, value: str) -> None:
        from .broker.naming import servicebus_name_problem  # here: the broker package imports this module

        problem = servicebus_name_problem(value)
        if problem is not None:
            raise ValidationError(cls._field, problem)


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
    if isinstance(value, str) and _SUBSCRIPTION_PATH.match(value):
        return SubscriptionName(value)
    return QueueName(value)  # a queue or topic; Service Bus names may have '/' between segments too


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
