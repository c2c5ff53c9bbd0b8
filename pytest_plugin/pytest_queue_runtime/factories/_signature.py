"""Fixture functions that depend on fixtures named at factory time."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["depends_on"]


def depends_on(*names: str) -> Callable[[F], F]:
    """Give a ``(request, **deps)`` fixture function the parameters ``names``, so pytest knows the
    dependencies statically: they take part in parametrization (``queue_provider_name``), and an async
    fixture needs them
    resolved beforehand because it cannot call ``request.getfixturevalue`` on another async fixture."""

    def decorate(func: F) -> F:
        params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names]
        func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        return func

    return decorate
