"""queue_runtime: one async API over Azure Service Bus, AWS SQS, an emulator and an in-memory broker.

See README.md and docs/ for the tour. The public surface is what ``__all__`` lists.
"""

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
from ._identifiers import MessageId, QueueName, SessionId, SubscriptionName
from ._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage
from ._processor import DeadLetter, ProcessorOptions, QueueProcessor
from ._queues import QueueOptions, QueueProperties, SessionSupport
from ._resilience import CircuitBreaker, CircuitState
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

__all__ = [
    "AwsSqsConfig",
    "AzureServiceBusConfig",
    "Capabilities",
    "CircuitBreaker",
    "CircuitBreakerPolicy",
    "CircuitState",
    "CorrelationFilter",
    "DeadLetter",
    "EmulatorConfig",
    "FalseFilter",
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
    "RuleProperties",
    "SessionClient",
    "SessionId",
    "SessionProvider",
    "SessionSupport",
    "SqlFilter",
    "SqlRuleAction",
    "SubscriptionName",
    "SubscriptionOptions",
    "SubscriptionProperties",
    "TopicOptions",
    "TopicProperties",
    "TrueFilter",
]

__version__ = "0.1.0"
