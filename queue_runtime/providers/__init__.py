"""Provider adapters and the registry that finds them by name.

Built-in names: ``memory``, ``emulator``, ``sqs`` and ``servicebus``. Third-party providers register an entry point
in the group ``queue_runtime.providers`` whose value is a factory ``(**options) -> QueueProvider`` (sync or async),
or are named directly as ``package.module:factory``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigurationError
from ..ports import QueueProvider

__all__ = ["ENTRY_POINT_GROUP", "create_provider", "load_factory", "registered_names"]

ENTRY_POINT_GROUP = "queue_runtime.providers"


def registered_names() -> list[str]:
    plugins = (ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted({"memory", "emulator", "sqs", "servicebus", *plugins})


def load_factory(name: str) -> Callable[..., Any]:
    """Resolve ``package.module:factory`` or a registered entry-point name to the factory callable."""
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import provider module {module_name!r}: {exc}") from exc
        factory = getattr(module, attribute, None)
        if factory is None or not callable(factory):
            raise ConfigurationError(f"module {module_name!r} has no callable {attribute!r}")
        return factory  # type: ignore[no-any-return]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry.load()  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"unknown provider {name!r}; registered: {', '.join(registered_names())}, "
        "or give 'package.module:factory'"
    )


async def _call(factory: Callable[..., Any], **options: Any) -> QueueProvider:
    provider = factory(**options)
    if inspect.isawaitable(provider):
        provider = await provider
    if not isinstance(provider, QueueProvider):
        raise ConfigurationError(
            f"provider factory {getattr(factory, '__qualname__', factory)!r} returned "
            f"{type(provider).__name__}, not a QueueProvider"
        )
    return provider


async def create_provider(config: BaseModel) -> QueueProvider:
    """The provider a config describes. SDK-backed providers import their SDK only here, on demand."""
    kind = getattr(config, "type", None)
    if kind == "memory":
        from .memory import InMemoryProvider

        return InMemoryProvider(config)  # type: ignore[arg-type]
    if kind == "emulator":
        from .emulator import EmulatorProvider

        return await EmulatorProvider.connect(config)  # type: ignore[arg-type]
    if kind == "sqs":
        from .sqs import SqsProvider

        return SqsProvider(config)  # type: ignore[arg-type]
    if kind == "servicebus":
        from .servicebus import ServiceBusProvider

        return await ServiceBusProvider.connect(config)  # type: ignore[arg-type]
    if kind == "plugin":
        return await _call(load_factory(config.name), **config.options)  # type: ignore[attr-defined]
    raise ConfigurationError(f"no provider for config type {kind!r}")
