"""pydantic's validation errors in plain words: ``where: what is wrong``, one per problem.

pydantic prefixes custom checks with ``Value error,`` / ``Assertion failed,`` and its text can echo input values
(message bodies, secrets); these messages name the setting (as the user wrote it: a flag, an environment variable,
a field) and the rule only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

__all__ = ["plain_errors", "plain_message"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(error: Mapping[str, Any]) -> str:
    """pydantic's message for one error without its ``Value error,`` prefix."""
    message = str(error.get("msg", "is not valid"))
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def plain_errors(
    exc: PydanticValidationError, name: Callable[[tuple[Any, ...]], str] | None = None, *, default: str = "value"
) -> str:
    """``field: problem; other: problem``. ``name`` turns an error location into what the user wrote."""
    parts = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = name(loc) if name is not None else ".".join(str(p) for p in loc)
        parts.append(f"{where or default}: {plain_message(error)}")
    return "; ".join(dict.fromkeys(parts))
