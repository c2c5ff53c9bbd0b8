"""Validated identifiers. Each is a ``str`` (usable anywhere a string is) that checked its value on creation.

- ``QueueName``: Azure Service Bus' entity rule, the widest any provider accepts (1-260 characters of letters,
  digits, ``.``, ``-``, ``_``, ``/`` between segments; starting and ending with a letter or digit). Each provider
  then refuses what its own backend refuses, saying which rule and why: the engine (in-memory, emulator) refuses
  ``/``, SQS refuses ``.`` and ``/`` and more than 80 characters (see ``queue_runtime.broker.naming``). A name of
  ``[A-Za-z0-9_-]``, at most 75 characters, works everywhere.
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
