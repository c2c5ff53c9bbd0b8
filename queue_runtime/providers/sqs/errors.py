"""botocore and AWS errors translated into :mod:`queue_runtime.errors`: :func:`map_exceptions` and its tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ...errors import (
    AuthenticationError,
    AuthorizationError,
    BatchTooLargeError,
    ConfigurationError,
    MessageLockLostError,
    MessageTooLargeError,
    OperationTimeoutError,
    ProviderError,
    QueueAlreadyExistsError,
    QueueConnectionError,
    QueueError,
    QueueNotFoundError,
    QuotaExceededError,
    ServiceUnavailableError,
    ThrottledError,
    UnsupportedOperationError,
    ValidationError,
)
from .limits import MAX_BATCH, SQS_MAX_MESSAGE_SIZE

__all__ = ["map_exceptions"]

_AWS_ERRORS: dict[str, type[QueueError]] = {
    # missing / existing queues
    "AWS.SimpleQueueService.NonExistentQueue": QueueNotFoundError,
    "QueueDoesNotExist": QueueNotFoundError,
    "QueueAlreadyExists": QueueAlreadyExistsError,
    "QueueNameExists": QueueAlreadyExistsError,
    "AWS.SimpleQueueService.QueueDeletedRecently": ServiceUnavailableError,
    "QueueDeletedRecently": ServiceUnavailableError,
    # receipts
    "ReceiptHandleIsInvalid": MessageLockLostError,
    "InvalidReceiptHandle": MessageLockLostError,
    "AWS.SimpleQueueService.MessageNotInflight": MessageLockLostError,
    "MessageNotInflight": MessageLockLostError,
    # throttling and service trouble (transient)
    "ThrottlingException": ThrottledError,
    "Throttling": ThrottledError,
    "RequestThrottled": ThrottledError,
    "AWS.SimpleQueueService.RequestThrottled": ThrottledError,
    "RequestLimitExceeded": ThrottledError,
    "KmsThrottled": ThrottledError,
    "KMS.ThrottlingException": ThrottledError,
    "ServiceUnavailable": ServiceUnavailableError,
    "InternalError": ServiceUnavailableError,
    "InternalFailure": ServiceUnavailableError,
    "RequestTimeout": OperationTimeoutError,
    "OverLimit": QuotaExceededError,
    # credentials and permissions
    "InvalidClientTokenId": AuthenticationError,
    "UnrecognizedClientException": AuthenticationError,
    "SignatureDoesNotMatch": AuthenticationError,
    "IncompleteSignature": AuthenticationError,
    "MissingAuthenticationToken": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "InvalidAccessKeyId": AuthenticationError,
    "ExpiredToken": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "RequestExpired": AuthenticationError,
    "InvalidSecurity": AuthenticationError,
    "AuthFailure": AuthenticationError,
    "AccessDenied": AuthorizationError,
    "AccessDeniedException": AuthorizationError,
    "KmsAccessDenied": AuthorizationError,
    "KMS.AccessDeniedException": AuthorizationError,
    "UnauthorizedOperation": AuthorizationError,
    "AWS.SimpleQueueService.UnsupportedOperation": UnsupportedOperationError,
    "UnsupportedOperation": UnsupportedOperationError,
    # bad requests and batches
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": BatchTooLargeError,
    "TooManyEntriesInBatchRequest": BatchTooLargeError,
    "AWS.SimpleQueueService.BatchRequestTooLong": MessageTooLargeError,
    "BatchRequestTooLong": MessageTooLargeError,
    "AWS.SimpleQueueService.EmptyBatchRequest": ValidationError,
    "EmptyBatchRequest": ValidationError,
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct": ValidationError,
    "BatchEntryIdsNotDistinct": ValidationError,
    "AWS.SimpleQueueService.InvalidBatchEntryId": ValidationError,
    "InvalidBatchEntryId": ValidationError,
    "InvalidMessageContents": ValidationError,
    "InvalidParameterValue": ValidationError,
    "InvalidParameterValueException": ValidationError,
    "InvalidAttributeName": ValidationError,
    "InvalidAttributeValue": ValidationError,
    "MissingParameter": ValidationError,
    "MissingRequiredParameterException": ValidationError,
    "ValidationError": ValidationError,
    "InvalidAddress": ValidationError,
}
"""AWS error codes (both the JSON ``Code`` and the query-compatible ``QueryErrorCode``) to our classes."""

# Settling with a receipt whose message is gone or no longer in flight: SQS answers InvalidParameterValue.
_SETTLE_ERRORS: dict[str, type[QueueError]] = {"InvalidParameterValue": MessageLockLostError}


def _botocore_errors() -> dict[type[BaseException], type[QueueError]]:
    from botocore import exceptions as bc

    return {
        bc.NoCredentialsError: AuthenticationError,
        bc.PartialCredentialsError: AuthenticationError,
        bc.CredentialRetrievalError: AuthenticationError,
        bc.NoRegionError: ConfigurationError,
        bc.ParamValidationError: ValidationError,
        bc.EndpointConnectionError: QueueConnectionError,
        bc.ConnectionClosedError: QueueConnectionError,
        bc.ConnectTimeoutError: QueueConnectionError,
        bc.ProxyConnectionError: QueueConnectionError,
        bc.HTTPClientError: QueueConnectionError,
        bc.ReadTimeoutError: OperationTimeoutError,
        bc.BotoCoreError: ProviderError,
    }


def _most_specific(
    exc: BaseException, table: Mapping[type[BaseException], type[QueueError]]
) -> type[QueueError]:
    matches = [source for source in table if isinstance(exc, source)]
    if not matches:
        return ProviderError
    return table[max(matches, key=lambda source: len(source.__mro__))]


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _build(
    cls: type[QueueError],
    operation: str,
    queue: str | None,
    code: str,
    aws_message: str,
    details: dict[str, Any],
) -> QueueError:
    where = f" on queue '{queue}'" if queue else ""
    if cls is QueueNotFoundError:
        return QueueNotFoundError(queue or "?", details=details)
    if cls is QueueAlreadyExistsError:
        return QueueAlreadyExistsError(queue or "?", details=details)
    if cls is BatchTooLargeError:
        return BatchTooLargeError(details.get("count", MAX_BATCH + 1), MAX_BATCH)
    if cls is MessageTooLargeError:
        return MessageTooLargeError(details.get("size", SQS_MAX_MESSAGE_SIZE + 1), SQS_MAX_MESSAGE_SIZE)
    if cls is ValidationError:
        # AWS' text names the parameter; it may echo a value, so it is clipped (it never holds credentials).
        return ValidationError(
            "request", f"SQS rejected {operation}{where} ({code}): {_clip(aws_message)}", details=details
        )
    if cls is AuthenticationError:
        text = f"SQS did not accept the credentials for {operation}{where} ({code}); check the AWS chain"
    elif cls is AuthorizationError:
        text = f"the credentials may not {operation}{where} ({code}); check the IAM policy"
    elif cls is MessageLockLostError:
        text = (
            f"cannot settle the message{where}: its receipt handle is invalid or expired ({code}); "
            "if the message still exists it is receivable again"
        )
    elif cls is ServiceUnavailableError and "Deleted" in code:
        return ServiceUnavailableError(
            f"SQS needs 60 seconds after a queue was deleted before {queue or 'its name'!r} can be created "
            "again",
            retry_after=60.0,
            details=details,
        )
    else:
        text = f"SQS {operation}{where} failed ({code})"
    return cls(text, details=details)


@contextmanager
def map_exceptions(
    operation: str, queue: str | None = None, codes: Mapping[str, type[QueueError]] | None = None
) -> Iterator[None]:
    """Translate botocore errors into :mod:`queue_runtime.errors` (``raise ... from exc``).

    ``codes`` are this operation's own meanings of AWS error codes; they win over the general table. Messages
    never carry credentials, and AWS' own text only appears (clipped) for rejected requests.
    """
    from botocore.exceptions import ClientError

    try:
        yield
    except QueueError:
        raise
    except ClientError as exc:
        error = exc.response.get("Error", {}) or {}
        meta = exc.response.get("ResponseMetadata", {}) or {}
        candidates = [str(error.get("Code", "")), str(error.get("QueryErrorCode", ""))]
        status = int(meta.get("HTTPStatusCode") or 0)
        cls: type[QueueError] | None = None
        for table in (codes or {}, _AWS_ERRORS):
            cls = next((table[c] for c in candidates if c in table), None)
            if cls is not None:
                break
        if cls is None:
            cls = {429: ThrottledError, 403: AuthorizationError, 401: AuthenticationError}.get(status)
        if cls is None:
            cls = ServiceUnavailableError if status >= 500 else ProviderError
        code = candidates[0] or candidates[1] or f"HTTP {status}"
        details = {
            "aws_code": code,
            "operation": operation,
            "request_id": meta.get("RequestId"),
            "queue": queue,
        }
        raise _build(cls, operation, queue, code, str(error.get("Message", "")), details) from exc
    except Exception as exc:
        cls = _most_specific(exc, _botocore_errors())
        if cls is ProviderError and not type(exc).__module__.startswith(
            ("botocore", "aiobotocore", "aiohttp")
        ):
            raise
        where = f" on queue '{queue}'" if queue else ""
        kind = type(exc).__name__
        if cls is AuthenticationError:
            text = (
                f"no usable AWS credentials for SQS {operation}{where} ({kind}); give them or fix the chain"
            )
        elif cls is ValidationError:
            raise ValidationError(
                "request", f"botocore rejected the {operation} parameters ({kind})"
            ) from exc
        else:
            text = f"SQS {operation}{where} failed ({kind})"
        raise cls(text, details={"operation": operation, "queue": queue, "error": kind}) from exc
