"""queue_runtime: one async API over Azure Service Bus, AWS SQS, an emulator and an in-memory broker.

See README.md and docs/ for the tour. The public surface is what ``__all__`` lists.
"""

import logging as _logging

from ._client import QueueClient, QueueClientFactory, SessionClient
from ._config import (
    AwsSqsConfig,
    AzureServiceBusConfig,
    CircuitBreakerPolicy,
    EmulatorConfig,
    InMemoryConfig,
    PluginProviderConfig,
    ProviderConfig,
    QueueConfig,
    RetryPolicy,
)
from ._identifiers import MessageId, QueueName, SessionId
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._processor import DeadLetter, ProcessorOptions, QueueProcessor
from ._queues import QueueOptions, QueueProperties, SessionSupport
from ._resilience import CircuitBreaker, CircuitState
from .errors import QueueError
from .ports import Capabilities, QueueProvider, SessionProvider

# A library never configures logging: its records go nowhere until the application adds a handler (every logger
# of the library is a child of "queue_runtime").
_logging.getLogger("queue_runtime").addHandler(_logging.NullHandler())

__all__ = [
    "AwsSqsConfig",
    "AzureServiceBusConfig",
    "Capabilities",
    "CircuitBreaker",
    "CircuitBreakerPolicy",
    "CircuitState",
    "DeadLetter",
    "EmulatorConfig",
    "InMemoryConfig",
    "Message",
    "MessageId",
    "PeekedMessage",
    "PluginProviderConfig",
    "ProcessorOptions",
    "ProviderConfig",
    "QueueClient",
    "QueueClientFactory",
    "QueueConfig",
    "QueueError",
    "QueueName",
    "QueueOptions",
    "QueueProcessor",
    "QueueProperties",
    "QueueProvider",
    "ReceiptHandle",
    "ReceivedMessage",
    "RetryPolicy",
    "SessionClient",
    "SessionId",
    "SessionProvider",
    "SessionSupport",
]

__version__ = "0.1.0"
