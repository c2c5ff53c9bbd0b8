"""Engine errors as Service Bus AMQP error conditions: the one place that translation happens."""

from __future__ import annotations

from queue_runtime.errors import QueueError

from ..protocol.errors import AmqpFault
from ..protocol.performatives import ErrorCondition
from ..protocol.types import Symbol

__all__ = ["ServiceBusCondition", "fault_from_engine"]


class ServiceBusCondition:
    """Vendor error conditions the azure-servicebus SDK turns into its own exception classes."""

    MESSAGE_LOCK_LOST = Symbol("com.microsoft:message-lock-lost")
    SESSION_LOCK_LOST = Symbol("com.microsoft:session-lock-lost")
    SESSION_CANNOT_BE_LOCKED = Symbol("com.microsoft:session-cannot-be-locked")
    MESSAGE_NOT_FOUND = Symbol("com.microsoft:message-not-found")
    TIMEOUT = Symbol("com.microsoft:timeout")
    AUTH_FAILED = Symbol("com.microsoft:auth-failed")
    ARGUMENT_ERROR = Symbol("com.microsoft:argument-error")
    ENTITY_ALREADY_EXISTS = Symbol("com.microsoft:entity-already-exists")
    SERVER_BUSY = Symbol("com.microsoft:server-busy")
    DEAD_LETTER = Symbol("com.microsoft:dead-letter")


# engine error code -> (AMQP condition, management status code)
_BY_CODE: dict[str, tuple[Symbol, int]] = {
    "message_lock_lost": (ServiceBusCondition.MESSAGE_LOCK_LOST, 410),
    "session_lock_lost": (ServiceBusCondition.SESSION_LOCK_LOST, 410),
    "session_cannot_be_locked": (ServiceBusCondition.SESSION_CANNOT_BE_LOCKED, 410),
    "message_not_found": (ServiceBusCondition.MESSAGE_NOT_FOUND, 404),
    "queue_not_found": (ErrorCondition.NOT_FOUND, 404),
    "queue_already_exists": (ServiceBusCondition.ENTITY_ALREADY_EXISTS, 409),
    "message_too_large": (ErrorCondition.MESSAGE_SIZE_EXCEEDED, 413),
    "batch_too_large": (ErrorCondition.MESSAGE_SIZE_EXCEEDED, 413),
    "validation_error": (ServiceBusCondition.ARGUMENT_ERROR, 400),
    "session_required": (ErrorCondition.NOT_ALLOWED, 400),
    "unsupported_operation": (ErrorCondition.NOT_ALLOWED, 400),
    "quota_exceeded": (ErrorCondition.RESOURCE_LIMIT_EXCEEDED, 403),
    "timeout": (ServiceBusCondition.TIMEOUT, 408),
    "authentication_failed": (ErrorCondition.UNAUTHORIZED_ACCESS, 401),
    "authorization_failed": (ErrorCondition.UNAUTHORIZED_ACCESS, 401),
    "throttled": (ServiceBusCondition.SERVER_BUSY, 503),
}
# Publish/subscribe (topics, subscriptions, rules).
_BY_CODE.update({
    "topic_not_found": (ErrorCondition.NOT_FOUND, 404),
    "subscription_not_found": (ErrorCondition.NOT_FOUND, 404),
    "rule_not_found": (ErrorCondition.NOT_FOUND, 404),
    "topic_already_exists": (ServiceBusCondition.ENTITY_ALREADY_EXISTS, 409),
    "subscription_already_exists": (ServiceBusCondition.ENTITY_ALREADY_EXISTS, 409),
    "rule_already_exists": (ServiceBusCondition.ENTITY_ALREADY_EXISTS, 409),
    "invalid_filter": (ServiceBusCondition.ARGUMENT_ERROR, 400),
})


def fault_from_engine(error: QueueError) -> AmqpFault:
    condition, status = _BY_CODE.get(error.code, (ErrorCondition.INTERNAL_ERROR, 500))
    return AmqpFault(condition, error.message, status)
