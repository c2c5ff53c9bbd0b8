"""Fixture functions that depend on fixtures named at factory time."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["MISSING_EXTRA", "async_fixture", "depends_on", "missing_modules"]

# The modules of the ``pytest`` extra that the fixtures need. The plugin itself loads without them (it is
# registered by the base install's ``pytest11`` entry point), and says once which extra to install when a test
# asks for a queue fixture or an option is set.
_EXTRA_MODULES = ("pytest_asyncio", "faker")
MISSING_EXTRA = (
    "queue-runtime's queue fixtures need its 'pytest' extra (missing: {missing}): install queue-runtime the "
    "way you did, with [pytest] added, e.g. pip install \"/path/to/queue-runtime[pytest]\" "
    "(docs/installing.md)"
)


def missing_modules() -> list[str]:
    """The modules of the ``pytest`` extra that cannot be imported here."""
    import importlib.util

    return [name for name in _EXTRA_MODULES if importlib.util.find_spec(name) is None]


def async_fixture(func: F) -> F:
    """``pytest_asyncio.fixture(loop_scope="function")`` when pytest-asyncio is installed. Without it, a fixture
    that fails with the one line naming the extra (the plugin normally stops the run before that)."""
    try:
        import pytest_asyncio
    except ImportError:
        import pytest

        def unavailable(**_: Any) -> Any:
            pytest.fail(MISSING_EXTRA.format(missing=", ".join(missing_modules())), pytrace=False)

        unavailable.__name__ = func.__name__
        unavailable.__doc__ = func.__doc__
        unavailable.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
        return pytest.fixture(unavailable)  # type: ignore[return-value]
    return pytest_asyncio.fixture(loop_scope="function")(func)  # type: ignore[return-value]


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
