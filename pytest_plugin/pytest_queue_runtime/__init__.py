"""pytest plugin for queue_runtime: ``--queue-provider`` and the queue fixtures (``queue_client``,
``queue_name``, ``session_queue_name``, ``queue_clock``, ``queue_faults``, ``queue_journal``, ``queue_emulator``,
``queue_message_factory``,
``queue_client_factory``, ``queue_servicebus_admin``). See docs/pytest-plugin.md."""

from .config import QueueRuntimeConfig
from .factories import QueueClientFactory, QueueClock, QueueNameFactory
from .journal import QueueJournal
from .messages import QueueMessageFactory
from .names import unique_queue_name
from .targets import EmulatorHandle, ProviderTarget

__all__ = [
    "EmulatorHandle",
    "ProviderTarget",
    "QueueClientFactory",
    "QueueClock",
    "QueueJournal",
    "QueueMessageFactory",
    "QueueNameFactory",
    "QueueRuntimeConfig",
    "unique_queue_name",
]
