"""The one error hierarchy of queue_runtime.

Every failure a caller can see is a :class:`QueueError`. Each class has a stable ``code`` string (used on the
emulator's wire and in logs), says whether it is ``transient`` (the core client retries only those) and may
carry ``retry_after`` (seconds the service asked us to wait)::

    QueueError
    ├── ValidationError                 bad argument: names the field and the rule broken
    │   ├── MessageTooLargeError        body (plus attributes) over the provider's limit
    │   ├── BatchTooLargeError          more messages than one batch may hold
    │   └── SessionKeyError             a session key strategy made a key that is not a valid SessionId
    ├── ConfigurationError              a config value is missing or wrong
    ├── MessageDecodeError              a body could not be read as the requested type
    ├── QueueNotFoundError
    │   ├── TopicNotFoundError
    │   └── SubscriptionNotFoundError
    ├── QueueAlreadyExistsError
    │   ├── TopicAlreadyExistsError
    │   └── SubscriptionAlreadyExistsError
    ├── RuleNotFoundError
    ├── RuleAlreadyExistsError
    ├── MessageNotFoundError            no message with that sequence number (scheduled, deferred)
    ├── MessageLockLostError            receipt unknown, already settled, or its lock expired
    ├── MessageLockedError              a receiver holds the message (it cannot be deleted by hand now)
    ├── SessionLockLostError            the session lock expired or was released
    ├── SessionCannotBeLockedError      another receiver holds the session
    ├── SessionRequiredError            a session queue used without a session, or the reverse
    ├── UnsupportedOperationError       the provider lacks the capability
    ├── QuotaExceededError              the queue is full
    ├── AuthenticationError
    ├── AuthorizationError
    ├── ProviderError                   anything else the backend said (transient or not, as it says)
    ├── EncryptionError                 an encrypted body could not be read (never carries key bytes)
    │   ├── DecryptionFailedError       authentication failed: ciphertext, tag, nonce or message id changed
    │   ├── EncryptionKeyNotFoundError  the envelope names a key id the key ring does not have
    │   ├── UnsupportedEnvelopeVersionError  the envelope's version is not one this library reads
    │   ├── EncryptedMessageExpiredError     encrypted longer ago than max_age (or in the future)
    │   ├── MessageReplayedError        the same encrypted message was received again (replay cache)
    │   └── UnencryptedMessageError     a plaintext body arrived and the plaintext policy is "reject"
    └── TransientError                  worth retrying
        ├── QueueConnectionError
        ├── OperationTimeoutError
        ├── ThrottledError
        ├── ServiceUnavailableError
        └── CircuitOpenError            the client's circuit breaker is open; fails fast, never retried

Messages are written for people ("queue 'orders' does not exist"), never contain secrets, and never contain
message bodies.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BatchTooLargeError",
    "CircuitOpenError",
    "ConfigurationError",
    "DecryptionFailedError",
    "EncryptedMessageExpiredError",
    "EncryptionError",
    "EncryptionKeyNotFoundError",
    "MessageDecodeError",
    "MessageLockLostError",
    "MessageLockedError",
    "MessageNotFoundError",
    "MessageReplayedError",
    "MessageTooLargeError",
    "OperationTimeoutError",
    "ProviderError",
    "QueueAlreadyExistsError",
    "QueueConnectionError",
    "QueueError",
    "QueueNotFoundError",
    "QuotaExceededError",
    "RuleAlreadyExistsError",
    "RuleNotFoundError",
    "ServiceUnavailableError",
    "SessionCannotBeLockedError",
    "SessionKeyError",
    "SessionLockLostError",
    "SessionRequiredError",
    "SubscriptionAlreadyExistsError",
    "SubscriptionNotFoundError",
    "ThrottledError",
    "TopicAlreadyExistsError",
    "TopicNotFoundError",
    "TransientError",
    "UnencryptedMessageError",
    "UnsupportedEnvelopeVersionError",
    "UnsupportedOperationError",
    "ValidationError",
    "error_class_for_code",
    "error_from_wire",
]


class QueueError(Exception):
    """Root of every error queue_runtime raises."""

    code: ClassVar[str] = "queue_error"
    transient_by_default: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        transient: bool | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = self.transient_by_default if transient is None else transient
        self.retry_after = retry_after
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationError(QueueError):
    """An argument broke a rule. ``field`` names the argument, ``rule`` the rule."""

    code = "validation_error"

    def __init__(self, field: str, rule: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"invalid {field}: {rule}", details={"field": field, "rule": rule, **(details or {})})
        self.field = field
        self.rule = rule


class MessageTooLargeError(ValidationError):
    code = "message_too_large"

    def __init__(self, size: int, max_size: int) -> None:
        super().__init__(
            "message",
            f"size {size} bytes is over the limit of {max_size} bytes (body plus attributes)",
            details={"size": size, "max_size": max_size},
        )
        self.size = size
        self.max_size = max_size


class BatchTooLargeError(ValidationError):
    code = "batch_too_large"

    def __init__(self, count: int, max_count: int) -> None:
        super().__init__(
            "messages",
            f"a batch of {count} messages is over the limit of {max_count}",
            details={"count": count, "max_count": max_count},
        )
        self.count = count
        self.max_count = max_count


class SessionKeyError(ValidationError):
    """A session key strategy produced a key that is not a valid ``SessionId``. ``strategy`` names it;
    the key itself is not repeated (it comes from message content)."""

    code = "session_key_invalid"

    def __init__(self, strategy: str, rule: str) -> None:
        super().__init__(
            "session_key", f"{strategy} made an invalid session id: {rule}", details={"strategy": strategy}
        )
        self.strategy = strategy


class ConfigurationError(QueueError):
    code = "configuration_error"


class MessageDecodeError(QueueError):
    code = "message_decode_error"


class QueueNotFoundError(QueueError):
    code = "queue_not_found"

    def __init__(self, queue: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"queue '{queue}' does not exist", details={"queue": queue, **(details or {})})
        self.queue = queue


class QueueAlreadyExistsError(QueueError):
    code = "queue_already_exists"

    def __init__(self, queue: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"queue '{queue}' already exists", details={"queue": queue, **(details or {})})
        self.queue = queue


class TopicNotFoundError(QueueNotFoundError):
    code = "topic_not_found"

    def __init__(self, topic: str, *, details: dict[str, Any] | None = None) -> None:
        QueueError.__init__(self, f"topic '{topic}' does not exist", details={"topic": topic, **(details or {})})
        self.queue = topic
        self.topic = topic


class SubscriptionNotFoundError(QueueNotFoundError):
    code = "subscription_not_found"

    def __init__(self, topic: str, subscription: str, *, details: dict[str, Any] | None = None) -> None:
        QueueError.__init__(
            self,
            f"subscription '{subscription}' of topic '{topic}' does not exist",
            details={"topic": topic, "subscription": subscription, **(details or {})},
        )
        self.queue = f"{topic}/Subscriptions/{subscription}"
        self.topic = topic
        self.subscription = subscription


class TopicAlreadyExistsError(QueueAlreadyExistsError):
    code = "topic_already_exists"

    def __init__(self, topic: str, *, details: dict[str, Any] | None = None) -> None:
        QueueError.__init__(
            self, f"an entity named '{topic}' already exists", details={"topic": topic, **(details or {})}
        )
        self.queue = topic
        self.topic = topic


class SubscriptionAlreadyExistsError(QueueAlreadyExistsError):
    code = "subscription_already_exists"

    def __init__(self, topic: str, subscription: str, *, details: dict[str, Any] | None = None) -> None:
        QueueError.__init__(
            self,
            f"subscription '{subscription}' of topic '{topic}' already exists",
            details={"topic": topic, "subscription": subscription, **(details or {})},
        )
        self.queue = f"{topic}/Subscriptions/{subscription}"
        self.topic = topic
        self.subscription = subscription


class RuleNotFoundError(QueueError):
    code = "rule_not_found"


class RuleAlreadyExistsError(QueueError):
    code = "rule_already_exists"


class MessageNotFoundError(QueueError):
    code = "message_not_found"


class MessageLockedError(QueueError):
    """A receiver holds the message's lock, so it cannot be removed by hand now: once it is settled, or its lock
    expires, it can."""

    code = "message_locked"


class MessageLockLostError(QueueError):
    """The receipt is unknown, already settled, or its lock expired. The message itself is never lost:
    if it still exists it is available to receivers again."""

    code = "message_lock_lost"


class SessionLockLostError(QueueError):
    code = "session_lock_lost"


class SessionCannotBeLockedError(QueueError):
    code = "session_cannot_be_locked"


class SessionRequiredError(QueueError):
    code = "session_required"


class UnsupportedOperationError(QueueError):
    code = "unsupported_operation"


class QuotaExceededError(QueueError):
    code = "quota_exceeded"


class AuthenticationError(QueueError):
    code = "authentication_failed"


class AuthorizationError(QueueError):
    code = "authorization_failed"


class ProviderError(QueueError):
    code = "provider_error"


class EncryptionError(QueueError):
    """An encrypted body could not be turned back into plaintext. Never retried; never names key bytes."""

    code = "encryption_error"


class DecryptionFailedError(EncryptionError):
    """AES-GCM authentication failed: the ciphertext, tag, nonce, envelope header or the message id (the
    associated data) is not what was encrypted. No plaintext is returned."""

    code = "decryption_failed"


class EncryptionKeyNotFoundError(EncryptionError):
    """The envelope names a key id the key ring does not hold (``key_id`` says which; ids are not secret)."""

    code = "encryption_key_not_found"


class UnsupportedEnvelopeVersionError(EncryptionError):
    code = "unsupported_envelope_version"


class EncryptedMessageExpiredError(EncryptionError):
    """The envelope's encryption time is older than the configured ``max_age`` or lies in the future."""

    code = "encrypted_message_expired"


class MessageReplayedError(EncryptionError):
    """The replay cache saw this envelope's nonce before: the same encrypted message arrived twice."""

    code = "message_replayed"


class UnencryptedMessageError(EncryptionError):
    """A plaintext body arrived while the plaintext policy is ``reject``."""

    code = "unencrypted_message"


class TransientError(QueueError):
    code = "transient_error"
    transient_by_default = True


class QueueConnectionError(TransientError):
    code = "connection_failed"


class OperationTimeoutError(TransientError):
    code = "timeout"


class ThrottledError(TransientError):
    code = "throttled"


class ServiceUnavailableError(TransientError):
    code = "service_unavailable"


class CircuitOpenError(TransientError):
    code = "circuit_open"


def _all_subclasses(cls: type[QueueError]) -> list[type[QueueError]]:
    found: list[type[QueueError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_class_for_code(code: str) -> type[QueueError]:
    """The class whose ``code`` is ``code``; ``ProviderError`` for codes we do not know (a newer server)."""
    for cls in _all_subclasses(QueueError):
        if cls.code == code:
            return cls
    return ProviderError


def error_from_wire(
    code: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    transient: bool | None = None,
    retry_after: float | None = None,
) -> QueueError:
    """Rebuild the error a server described by code, message and details (the emulator's error body).

    Subclass constructors take their own arguments, so the instance is made without them and the details are
    copied onto it as attributes (``queue``, ``field``, ``size``...), which is what those constructors store.
    """
    cls = error_class_for_code(code)
    error = cls.__new__(cls)
    QueueError.__init__(error, message, transient=transient, retry_after=retry_after, details=details)
    for key, value in (details or {}).items():
        if key.isidentifier() and not hasattr(QueueError, key):
            setattr(error, key, value)
    return error
