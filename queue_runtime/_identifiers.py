"""Validated identifiers. Each is a ``str`` (usable anywhere a string is) that checked its value on creation.

The rules are the intersection of what Azure Service Bus and Amazon SQS accept, so a name that works on one
provider works on all of them:

- ``QueueName``: 1-80 characters, ASCII letters, digits, ``-`` and ``_``, starting and ending with a letter or
  digit (SQS: 80 characters of ``[A-Za-z0-9_-]``; Service Bus: letters, digits, ``.-_/``, start and end alphanumeric).
  Providers may add their own suffix (SQS adds ``.fifo``) and check the full name again.
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

__all__ = ["MessageId", "QueueName", "SessionId"]

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
