"""Queue names: the one rule every front of the engine applies, and the clouds' rules it is made from.

- :func:`servicebus_name_problem` is Azure Service Bus' entity rule, the widest any provider accepts, so it is what
  ``queue_runtime.QueueName`` checks: 1-260 characters; letters, digits, ``.``, ``-``, ``_``, and ``/`` between path
  segments; starting and ending with a letter or digit.
- :func:`check_queue_name` is the engine's rule (the in-memory provider and every front of the emulator: REST,
  AMQP with auto-create, the entity file): Service Bus' rule without ``/``, because the engine has no nested entity
  paths and uses ``/`` itself as the separator of ``<queue>/$DeadLetterQueue`` (and REST paths cannot carry it).
- :func:`sqs_name_problem` is Amazon SQS' rule, applied by the SQS provider to the name it sends: 1-80 characters
  of ASCII letters, digits, ``-`` and ``_``, a FIFO queue's ``.fifo`` suffix included.

Each refusal says which rule refused the name and why, and never echoes more than the start of a long name.
"""

from __future__ import annotations

import re

from ..errors import ValidationError

__all__ = [
    "SERVICEBUS_MAX_NAME",
    "SQS_MAX_NAME",
    "check_queue_name",
    "servicebus_name_problem",
    "shown",
    "sqs_name_problem",
]

SERVICEBUS_MAX_NAME = 260
SQS_MAX_NAME = 80
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_SQS = re.compile(r"[A-Za-z0-9_-]+")
_SERVICEBUS_RULE = (
    "Service Bus' entity rule: 1-260 characters of letters, digits, '.', '-', '_' ('/' between path segments), "
    "starting and ending with a letter or digit"
)


def shown(name: str, limit: int = 40) -> str:
    """The name for an error message: quoted, and cut after ``limit`` characters."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + f"... ({len(name)} characters)"


def _bad_characters(name: str, allowed: re.Pattern[str]) -> str:
    bad = sorted({c for c in name if not allowed.fullmatch(c)})
    return ", ".join(repr(c) for c in bad[:5]) + (" ..." if len(bad) > 5 else "")


def servicebus_name_problem(name: str) -> str | None:
    """Why Azure Service Bus refuses ``name`` as a queue name, or None if it accepts it."""
    if not name:
        return "must not be empty"
    if len(name) > SERVICEBUS_MAX_NAME:
        return f"{shown(name)} is longer than {SERVICEBUS_MAX_NAME} characters ({_SERVICEBUS_RULE})"
    segments = name.split("/")
    if any(not segment for segment in segments):
        return f"{shown(name)} has an empty path segment (a leading, trailing or doubled '/'; {_SERVICEBUS_RULE})"
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            return f"{shown(name)} contains {_bad_characters(segment, _SEGMENT)} ({_SERVICEBUS_RULE})"
    if not (name[0].isascii() and name[0].isalnum() and name[-1].isascii() and name[-1].isalnum()):
        return f"{shown(name)} must start and end with a letter or digit ({_SERVICEBUS_RULE})"
    return None


def check_queue_name(name: str) -> None:
    """The engine's rule, for every front. Raises ``ValidationError`` saying which rule and why."""
    problem = servicebus_name_problem(name)
    if problem is not None:
        raise ValidationError("queue_name", problem)
    if "/" in name:
        raise ValidationError(
            "queue_name",
            f"{shown(name)} contains '/': Service Bus uses it for nested entity paths, which the in-memory broker "
            "and the emulator do not have; they use '/' as the separator of '<queue>/$DeadLetterQueue' "
            "(and REST paths cannot carry it)",
        )


def sqs_name_problem(name: str, *, fifo_suffix: bool = True) -> str | None:
    """Why Amazon SQS refuses ``name`` (the full name sent, ``.fifo`` suffix included), or None. With
    ``fifo_suffix=False`` the name is one the caller adds the suffix to, so a ``.fifo`` of its own is refused."""
    rule = "SQS allows 1-80 characters of ASCII letters, digits, '-' and '_', a FIFO queue's '.fifo' suffix included"
    base = name.removesuffix(".fifo") if fifo_suffix else name
    if not base:
        return f"must not be empty ({rule})"
    if len(name) > SQS_MAX_NAME:
        return f"{shown(name)} is {len(name)} characters long ({rule})"
    if not _SQS.fullmatch(base):
        why = "; '.' is valid on Service Bus but not on SQS" if "." in base else ""
        return f"{shown(name)} contains {_bad_characters(base, _SQS)} ({rule}{why})"
    return None
