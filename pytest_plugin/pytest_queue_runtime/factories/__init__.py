"""Fixture factories (pytest-postgresql's layout): call one in a ``conftest.py`` to get another fixture of the
same kind with different settings, e.g.
``slow_queue = factories.queue_name(lock_duration=timedelta(minutes=1))``.
The plugin's default fixtures are made by the same calls."""

from .admin import queue_servicebus_admin
from .client import (
    QueueClientFactory,
    QueueClock,
    QueueNameFactory,
    queue_client,
    queue_client_factory,
    queue_clock,
    queue_faults,
    queue_journal,
    queue_name,
    queue_name_factory,
)
from .noprocess import queue_emulator, queue_emulator_noproc
from .process import queue_emulator_proc
from .provider import queue_target

__all__ = [
    "QueueClientFactory",
    "QueueClock",
    "QueueNameFactory",
    "queue_client",
    "queue_client_factory",
    "queue_clock",
    "queue_emulator",
    "queue_emulator_noproc",
    "queue_emulator_proc",
    "queue_faults",
    "queue_journal",
    "queue_name",
    "queue_name_factory",
    "queue_servicebus_admin",
    "queue_target",
]
