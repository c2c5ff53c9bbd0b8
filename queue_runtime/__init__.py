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
from ._dead_letters import (
    DeadLetterEntry,
    DeadLetterManager,
    DeadLetterSummary,
    ResubmitFailure,
    ResubmitResult,
)
from ._encryption import EncryptionKey, KeyRing, MessageEncryption, PlaintextPolicy, ReplayCache
from ._health import HealthReport, HealthStatus
from ._identifiers import MessageId, QueueName, SessionId, SubscriptionName
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._processor import DeadLetter, ProcessorOptions, QueueProcessor
from ._queues import QueueOptions, QueueProperties, SessionSupport
from ._resilience import CircuitBreaker, CircuitState
from ._session_keys import (
    CompositeKeyStrategy,
    FallbackStrategy,
    GitHubEntityStrategy,
    NoOrderingStrategy,
    PayloadField,
    SessionKeyStrategy,
    SingleFieldStrategy,
    hashed_session_id,
    session_id_from_parts,
)
from ._topics import (
    CorrelationFilter,
    FalseFilter,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionOptions,
    SubscriptionProperties,
    TopicOptions,
    TopicProperties,
    TrueFilter,
)
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
    "CompositeKeyStrategy",
    "CorrelationFilter",
    "DeadLetter",
    "DeadLetterEntry",
    "DeadLetterManager",
    "DeadLetterSummary",
    "EmulatorConfig",
    "EncryptionKey",
    "FallbackStrategy",
    "FalseFilter",
    "GitHubEntityStrategy",
    "HealthReport",
    "HealthStatus",
    "InMemoryConfig",
    "KeyRing",
    "Message",
    "MessageEncryption",
    "MessageId",
    "NoOrderingStrategy",
    "PayloadField",
    "PeekedMessage",
    "PlaintextPolicy",
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
    "ReplayCache",
    "ResubmitFailure",
    "ResubmitResult",
    "RetryPolicy",
    "RuleProperties",
    "SessionClient",
    "SessionId",
    "SessionKeyStrategy",
    "SessionProvider",
    "SessionSupport",
    "SingleFieldStrategy",
    "SqlFilter",
    "SqlRuleAction",
    "SubscriptionName",
    "SubscriptionOptions",
    "SubscriptionProperties",
    "TopicOptions",
    "TopicProperties",
    "TrueFilter",
    "hashed_session_id",
    "session_id_from_parts",
]

__version__ = "0.1.0"
