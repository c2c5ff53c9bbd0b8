"""Amazon SQS through aiobotocore (extra ``[sqs]``), with sessions emulated on FIFO message groups.

How our model maps onto SQS (docs/sqs.md has the full story and the table of differences):

- A logical queue ``orders`` is the SQS queue ``{prefix}orders`` (plus ``.fifo`` when ``use_fifo_queues``),
  with its dead-letter queue ``{prefix}orders{dead_letter_queue_suffix}`` joined by a redrive policy.
- Our metadata (message id, correlation id, content type, session id, TTL, schedule, body encoding,
  dead-letter reason) travels in ONE reserved String message attribute, ``qr.meta`` (compact JSON), because
  SQS allows only 10 attributes per message. User attributes are String attributes; at most 9 of them.
- Bodies that are valid UTF-8 made of characters SQS accepts travel verbatim; any other body travels base64
  with ``"enc": "base64"`` in ``qr.meta``; an empty body travels as ``"-"`` with ``"enc": "empty"``.
- Queue options SQS has no attribute for (sessions required, default TTL, dead-letter on expiry) are stored
  in the queue tag ``queue-runtime``.
- A receipt carries the SQS receipt handle plus a small lock record (``provider_data``) with the visibility
  deadline, so a settle after the deadline fails with ``MessageLockLostError`` instead of silently doing
  nothing (SQS accepts stale receipt handles on standard queues).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from ..._config import AwsSqsConfig
from ..._identifiers import MessageId, QueueName, SessionId
from ..._messages import Message, ReceiptHandle, ReceivedMessage
from ..._queues import QueueOptions, QueueProperties, SessionSupport
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
    SessionLockLostError,
    SessionRequiredError,
    ThrottledError,
    UnsupportedOperationError,
    ValidationError,
)
from ...ports import Capabilities, QueueProvider, SessionProvider

__all__ = [
    "MAX_USER_ATTRIBUTES",
    "METADATA_RESERVE",
    "META_ATTRIBUTE",
    "SQS_MAX_MESSAGE_SIZE",
    "SqsProvider",
    "SqsSession",
    "map_exceptions",
    "wait_time_seconds",
]

logger = logging.getLogger(__name__)

SQS_MAX_MESSAGE_SIZE = 1024 * 1024
"""What SQS accepts per message and per batch request: body plus attribute names, types, values (bytes)."""
METADATA_RESERVE = 4096
"""Bytes of the SQS limit kept for ``qr.meta`` and attribute types (max_message_size = 1 MiB - this)."""
META_ATTRIBUTE = "qr.meta"
MAX_SQS_ATTRIBUTES = 10
MAX_USER_ATTRIBUTES = MAX_SQS_ATTRIBUTES - 1
MAX_BATCH = 10
MAX_DELAY_SECONDS = 900
MAX_WAIT_SECONDS = 20
MAX_QUEUE_NAME = 80
MAX_RECEIVE_COUNT = 1000
RETENTION_SECONDS = 1_209_600  # the SQS maximum (14 days): TTL is ours, enforced on receive
FIFO_SUFFIX = ".fifo"
OPTIONS_TAG = "queue-runtime"
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_EXPIRED_REASON = "TTLExpiredException"
_QUEUE_CACHE_SIZE = 512
_BATCH_SEND_ATTEMPTS = 3
_DEAD_LETTER_REASON_BYTES = 512
_DEAD_LETTER_DESCRIPTION_BYTES = 2048
_RESERVED_PREFIXES = ("qr.", "aws.", "amazon.")
# Characters SQS accepts in bodies and attribute values: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000+
_SQS_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PREFIX = re.compile(r"[A-Za-z0-9_-]*")


# --------------------------------------------------------------------------------------------------- errors

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


# ---------------------------------------------------------------------------------------- wire encoding


def wait_time_seconds(remaining: float, cap: int = MAX_WAIT_SECONDS) -> int:
    """``WaitTimeSeconds`` for one ReceiveMessage: the remaining wait rounded DOWN to whole seconds (0 to cap),
    so a receive never waits longer than asked; under a second left means one short poll."""
    if remaining <= 0:
        return 0
    return max(0, min(cap, math.floor(remaining)))


def _attribute_bytes(name: str, value: str) -> int:
    return len(name.encode()) + len("String") + len(value.encode())


def _meta_json(meta: Mapping[str, Any]) -> str:
    # ensure_ascii: the attribute is then plain printable ASCII, whatever the ids and reasons hold.
    return json.dumps(
        {k: v for k, v in meta.items() if v is not None}, separators=(",", ":"), ensure_ascii=True
    )


def _clip_json(text: str | None, max_bytes: int) -> str | None:
    if text is None:
        return None
    while len(json.dumps(text)) > max_bytes:
        text = text[: max(0, len(text) - max(1, len(text) // 8))]
    return text


def encode_body(body: bytes) -> tuple[str, str | None]:
    """The SQS ``MessageBody`` for ``body`` and the encoding marker (None = verbatim UTF-8 text)."""
    if not body:
        return "-", "empty"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
    if _SQS_INVALID.search(text):
        return base64.b64encode(body).decode("ascii"), "base64"
    return text, None


def decode_body(text: str, encoding: str | None) -> bytes:
    if encoding == "empty":
        return b""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            logger.warning("sqs: a message marked base64 is not valid base64; delivering its text as is")
    return text.encode("utf-8")


def _check_user_attributes(attributes: Mapping[str, str]) -> None:
    if len(attributes) > MAX_USER_ATTRIBUTES:
        raise ValidationError(
            "attributes",
            f"SQS allows {MAX_SQS_ATTRIBUTES} message attributes and queue-runtime reserves 1 "
            f"({META_ATTRIBUTE}), "
            f"so at most {MAX_USER_ATTRIBUTES}; got {len(attributes)}",
        )
    for name, value in attributes.items():
        lowered = name.lower()
        if lowered.startswith(_RESERVED_PREFIXES):
            raise ValidationError(
                "attributes",
                f"name {name!r} is reserved on SQS (names may not start with qr., AWS. or Amazon.)",
            )
        if ".." in name or name.startswith(".") or name.endswith("."):
            raise ValidationError(
                "attributes", f"name {name!r}: SQS forbids leading, trailing or doubled periods"
            )
        if _SQS_INVALID.search(value):
            raise ValidationError("attributes", f"value of {name!r} holds characters SQS does not accept")


# ------------------------------------------------------------------------------------------ local state


@dataclass(slots=True)
class _QueueInfo:
    """What one logical queue is on SQS; cached per known queue (bounded LRU)."""

    name: QueueName
    url: str
    fifo: bool
    visibility: int
    created_at: datetime
    dead_letter_url: str | None = None
    dead_letter_name: str | None = None
    max_delivery_count: int | None = None
    requires_session: bool = False
    default_ttl: float | None = None
    dead_letter_on_expiry: bool = False
    duplicate_detection_window: float | None = None


@dataclass(eq=False, slots=True)
class _Lock:
    """``ReceiptHandle.provider_data``: the visibility deadline and what dead-lettering needs to copy."""

    queue: QueueName
    url: str
    dead_letter: bool
    deadline: float
    visibility: int
    sqs_message_id: str
    raw_body: str
    raw_attributes: dict[str, Any]
    meta: dict[str, Any]
    group_id: str | None
    session: SqsSession | None = None
    state: str = "locked"  # locked | settled | released

    def check(self) -> None:
        lost = self.state != "locked" or time.time() >= self.deadline
        if not lost:
            return
        why = {
            "settled": "it was already settled",
            "released": "its session was closed or released it",
        }.get(self.state, "its visibility timeout (lock) expired; the message is receivable again")
        if self.session is not None and self.state != "settled":
            raise SessionLockLostError(
                f"the session lock for this message on queue '{self.queue}' was lost: {why}",
                details={"queue": self.queue, "session_id": self.session.session_id},
            )
        raise MessageLockLostError(
            f"cannot settle message on queue '{self.queue}': {why}", details={"queue": self.queue}
        )


def _lock_of(receipt: ReceiptHandle) -> _Lock | None:
    data = receipt.provider_data
    return data if isinstance(data, _Lock) else None


def _redacted(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# ------------------------------------------------------------------------------------------- provider


class SqsProvider(QueueProvider):
    """The SQS adapter. One aiobotocore client, made on first use (or by :meth:`connect`) and reused."""

    def __init__(
        self, config: AwsSqsConfig | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        """``clock`` (seconds since the epoch) judges message expiry only; tests may move it."""
        self.config = config = config or AwsSqsConfig()
        if not _PREFIX.fullmatch(config.queue_name_prefix):
            raise ConfigurationError("queue_name_prefix may contain only ASCII letters, digits, '-' and '_'")
        if not _PREFIX.fullmatch(config.dead_letter_queue_suffix) or not config.dead_letter_queue_suffix:
            raise ConfigurationError("dead_letter_queue_suffix must be 1+ ASCII letters, digits, '-' or '_'")
        if (config.access_key_id is None) != (config.secret_access_key is None):
            raise ConfigurationError("give both access_key_id and secret_access_key, or neither (AWS chain)")
        visibility = config.visibility_timeout.total_seconds()
        if not 0 <= visibility <= 43_200:
            raise ConfigurationError("visibility_timeout must be between 0 and 12 hours (SQS' range)")
        self._clock = clock or time.time
        self._fifo = config.use_fifo_queues
        self._wait_cap = max(1, min(MAX_WAIT_SECONDS, math.ceil(config.wait_time.total_seconds())))
        self._queues: OrderedDict[str, _QueueInfo] = OrderedDict()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self.capabilities = Capabilities(
            provider="sqs",
            sessions=SessionSupport.EMULATED if self._fifo else SessionSupport.NONE,
            session_accept_specific=False,
            session_state=False,
            max_batch_size=MAX_BATCH,
            # The declared limit must hold for ANY body: binary ones travel base64 (4/3 the size).
            max_message_size=(SQS_MAX_MESSAGE_SIZE - METADATA_RESERVE) * 3 // 4,
            dead_letter=config.enable_dead_letter_queue,
            scheduling=not self._fifo,
            deferral=False,
            peek=False,
            lock_renewal=True,
            duplicate_detection=self._fifo,
            ttl=True,
            clock_control=False,
            fault_injection=False,
            queue_management=True,
            notes=self._notes(),
        )

    def _notes(self) -> tuple[str, ...]:
        notes = [
            "bodies that are not SQS-safe UTF-8 travel base64 (4/3 the size) and must fit 1 MiB once encoded",
            f"at most {MAX_USER_ATTRIBUTES} user attributes ({META_ATTRIBUTE} is reserved)",
            "TTL is enforced when messages are received (SQS has no per-message TTL)",
        ]
        if self._fifo:
            notes += [
                "sessions are emulated on FIFO message groups: no session state, no accepting a named "
                "session",
                "the session lock is the visibility of the session's in-flight messages; with none in "
                "flight, "
                "other receivers may take the group",
                "accepting a session receives and releases other groups' messages, raising their receive "
                "counts",
                "duplicate detection keys on the message id with SQS' fixed 5-minute window",
                "no scheduling: FIFO queues have no per-message delay",
            ]
        else:
            notes += ["scheduling is limited to 15 minutes ahead and cannot be cancelled"]
        return tuple(notes)

    @classmethod
    async def connect(cls, config: AwsSqsConfig | None = None) -> Self:
        """A provider whose client is already open (the constructor alone opens it on first use)."""
        provider = cls(config)
        await provider._sqs()
        return provider

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SqsProvider(region={c.region!r}, endpoint_url={_redacted(c.endpoint_url)!r}, "
            f"fifo={self._fifo}, "
            f"prefix={c.queue_name_prefix!r}, credentials={'explicit' if c.access_key_id else 'aws-chain'})"
        )

    async def _sqs(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                c = self.config
                kwargs: dict[str, Any] = {"region_name": c.region, "endpoint_url": c.endpoint_url}
                if c.access_key_id is not None and c.secret_access_key is not None:
                    kwargs["aws_access_key_id"] = c.access_key_id
                    kwargs["aws_secret_access_key"] = c.secret_access_key.get_secret_value()
                    if c.session_token is not None:
                        kwargs["aws_session_token"] = c.session_token.get_secret_value()
                # The core client retries transient errors with backoff; botocore retrying too would multiply.
                boto_config = AioConfig(
                    retries={"mode": "standard", "total_max_attempts": 1},
                    connect_timeout=10,
                    read_timeout=MAX_WAIT_SECONDS + 40,
                )
                stack = AsyncExitStack()
                with map_exceptions("connect"):
                    self._client = await stack.enter_async_context(
                        get_session().create_client("sqs", config=boto_config, **kwargs)
                    )
                self._stack = stack
        return self._client

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # ------------------------------------------------------------------------------------------- names

    def sqs_queue_name(self, name: QueueName, *, dead_letter: bool = False) -> str:
        """The SQS name of a logical queue (or of its dead-letter queue); checks SQS' 80-character limit."""
        c = self.config
        full = f"{c.queue_name_prefix}{name}{c.dead_letter_queue_suffix if dead_letter else ''}"
        full += FIFO_SUFFIX if self._fifo else ""
        if len(full) > MAX_QUEUE_NAME:
            what = "dead-letter queue" if dead_letter else "queue"
            raise ValidationError(
                "queue_name",
                f"the SQS {what} name {full!r} is {len(full)} characters and SQS allows at most "
                f"{MAX_QUEUE_NAME} "
                f"(prefix {c.queue_name_prefix!r}"
                + (f", suffix {c.dead_letter_queue_suffix!r}" if dead_letter else "")
                + (f", '{FIFO_SUFFIX}'" if self._fifo else "")
                + "); use a shorter queue name",
                details={"sqs_name": full, "length": len(full)},
            )
        return full

    # ---------------------------------------------------------------------------------- queue lookup

    async def _queue(self, name: QueueName, *, refresh: bool = False) -> _QueueInfo:
        key = str(name)
        info = None if refresh else self._queues.get(key)
        if info is not None:
            self._queues.move_to_end(key)
            return info
        sqs_name = self.sqs_queue_name(name)
        client = await self._sqs()
        with map_exceptions("get_queue_url", name):
            url = (await client.get_queue_url(QueueName=sqs_name))["QueueUrl"]
        with map_exceptions("get_queue_attributes", name):
            attrs = (await client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
            tags = (await client.list_queue_tags(QueueUrl=url)).get("Tags", {}) or {}
        info = _QueueInfo(
            name=name,
            url=url,
            fifo=attrs.get("FifoQueue") == "true",
            visibility=int(attrs.get("VisibilityTimeout", "30")),
            created_at=datetime.fromtimestamp(float(attrs.get("CreatedTimestamp", "0")), UTC),
        )
        if "RedrivePolicy" in attrs:
            policy = json.loads(attrs["RedrivePolicy"])
            info.max_delivery_count = int(policy.get("maxReceiveCount", 0)) or None
            info.dead_letter_name = str(policy.get("deadLetterTargetArn", "")).rsplit(":", 1)[-1] or None
            if info.dead_letter_name:
                try:
                    with map_exceptions("get_queue_url", info.dead_letter_name):
                        info.dead_letter_url = (await client.get_queue_url(QueueName=info.dead_letter_name))[
                            "QueueUrl"
                        ]
                except QueueNotFoundError:
                    logger.warning("sqs: the dead-letter queue of %r does not exist", sqs_name)
        try:
            stored = json.loads(tags.get(OPTIONS_TAG, "{}"))
        except ValueError:
            stored = {}
        info.requires_session = bool(stored.get("s", False))
        info.default_ttl = stored.get("ttl")
        info.dead_letter_on_expiry = bool(stored.get("dle", False))
        info.duplicate_detection_window = stored.get("ddw")
        if info.max_delivery_count is None and stored.get("mdc"):
            info.max_delivery_count = int(stored["mdc"])
        self._queues[key] = info
        while len(self._queues) > _QUEUE_CACHE_SIZE:
            self._queues.popitem(last=False)
        return info

    def _forget(self, name: str) -> None:
        self._queues.pop(str(name), None)

    @contextmanager
    def _forget_if_missing(self, name: str) -> Iterator[None]:
        """A queue deleted behind our back must not stay in the cache."""
        try:
            yield
        except QueueNotFoundError:
            self._forget(name)
            raise

    # ---------------------------------------------------------------------------------- provisioning

    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        c = self.config
        sqs_name = self.sqs_queue_name(name)
        dead_letter_name = self.sqs_queue_name(name, dead_letter=True) if c.enable_dead_letter_queue else None
        if options.requires_session and not self._fifo:
            raise UnsupportedOperationError(
                "sessions on SQS need FIFO queues: set use_fifo_queues=True",
                details={"provider": "sqs", "operation": "sessions"},
            )
        if options.duplicate_detection_window is not None and not self._fifo:
            raise UnsupportedOperationError(
                "duplicate detection on SQS needs FIFO queues: set use_fifo_queues=True",
                details={"provider": "sqs", "operation": "duplicate detection"},
            )
        explicit = options.model_fields_set
        max_delivery = options.max_delivery_count if "max_delivery_count" in explicit else c.max_receive_count
        if max_delivery > MAX_RECEIVE_COUNT:
            raise ValidationError("max_delivery_count", f"SQS allows at most {MAX_RECEIVE_COUNT} receives")
        lock = options.lock_duration if "lock_duration" in explicit else c.visibility_timeout
        visibility = math.ceil(lock.total_seconds())
        effective = options.model_copy(update={"max_delivery_count": max_delivery, "lock_duration": lock})
        client = await self._sqs()
        try:
            with map_exceptions("get_queue_url", name):
                await client.get_queue_url(QueueName=sqs_name)
        except QueueNotFoundError:
            pass
        else:
            raise QueueAlreadyExistsError(name, details={"sqs_name": sqs_name})
        base: dict[str, str] = {"MessageRetentionPeriod": str(RETENTION_SECONDS)}
        if self._fifo:
            base.update({"FifoQueue": "true", "ContentBasedDeduplication": "false"})
        attributes = {**base, "VisibilityTimeout": str(visibility)}
        if dead_letter_name is not None:
            with map_exceptions("create_queue", dead_letter_name):
                dlq_url = (await client.create_queue(QueueName=dead_letter_name, Attributes=base))["QueueUrl"]
                arn = (await client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))[
                    "Attributes"
                ]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(max_delivery)}
            )
        ttl = options.default_message_ttl
        window = options.duplicate_detection_window
        stored = {
            "v": 1,
            "s": options.requires_session,
            "ttl": ttl.total_seconds() if ttl else None,
            "dle": options.dead_lettering_on_message_expiration,
            "mdc": max_delivery,
            "ddw": window.total_seconds() if window else None,
        }
        tag = json.dumps({k: v for k, v in stored.items() if v is not None}, separators=(",", ":"))
        with map_exceptions("create_queue", name):
            await client.create_queue(QueueName=sqs_name, Attributes=attributes, tags={OPTIONS_TAG: tag})
        self._forget(name)
        info = await self._queue(name)
        return QueueProperties(name=str(name), options=effective, created_at=info.created_at)

    async def delete_queue(self, name: QueueName) -> None:
        info = await self._queue(name, refresh=True)
        client = await self._sqs()
        self._forget(name)
        with map_exceptions("delete_queue", name):
            await client.delete_queue(QueueUrl=info.url)
        own_dead_letter = (
            self.sqs_queue_name(name, dead_letter=True) if self.config.enable_dead_letter_queue else None
        )
        if info.dead_letter_url is not None and info.dead_letter_name == own_dead_letter:
            try:
                with map_exceptions("delete_queue", info.dead_letter_name):
                    await client.delete_queue(QueueUrl=info.dead_letter_url)
            except QueueNotFoundError:
                pass

    async def get_queue(self, name: QueueName) -> QueueProperties:
        info = await self._queue(name, refresh=True)
        client = await self._sqs()
        with map_exceptions("get_queue_attributes", name):
            attrs = (await client.get_queue_attributes(QueueUrl=info.url, AttributeNames=["All"]))[
                "Attributes"
            ]
            dead = 0
            if info.dead_letter_url is not None:
                dl = (
                    await client.get_queue_attributes(
                        QueueUrl=info.dead_letter_url,
                        AttributeNames=[
                            "ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible",
                        ],
                    )
                )["Attributes"]
                dead = int(dl.get("ApproximateNumberOfMessages", 0)) + int(
                    dl.get("ApproximateNumberOfMessagesNotVisible", 0)
                )
        update: dict[str, Any] = {
            "requires_session": info.requires_session,
            "lock_duration": timedelta(seconds=info.visibility),
            "dead_lettering_on_message_expiration": info.dead_letter_on_expiry,
            "default_message_ttl": timedelta(seconds=info.default_ttl) if info.default_ttl else None,
            "duplicate_detection_window": (
                timedelta(seconds=info.duplicate_detection_window)
                if info.duplicate_detection_window
                else None
            ),
        }
        if info.max_delivery_count is not None:
            update["max_delivery_count"] = info.max_delivery_count
        return QueueProperties(
            name=str(name),
            options=QueueOptions().model_copy(update=update),
            created_at=info.created_at,
            active_count=int(attrs.get("ApproximateNumberOfMessages", 0)),
            locked_count=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            scheduled_count=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
            dead_letter_count=dead,
        )

    # -------------------------------------------------------------------------------------- sending

    def _entry(
        self, info: _QueueInfo, message: Message, index: int, at: datetime | None
    ) -> tuple[dict[str, Any], int]:
        """One SendMessageBatch entry and its size on the wire; every check happens here, before any send."""
        if info.requires_session and message.session_id is None:
            raise SessionRequiredError(
                f"queue '{info.name}' requires sessions: every message needs a session id"
            )
        _check_user_attributes(message.attributes)
        message_id = message.message_id or MessageId.new()
        body, encoding = encode_body(message.body)
        ttl = message.time_to_live.total_seconds() if message.time_to_live else info.default_ttl
        scheduled = at or message.scheduled_enqueue_time
        delay = 0
        if scheduled is not None:
            if info.fifo:
                raise UnsupportedOperationError(
                    "SQS FIFO queues have no per-message delay, so messages cannot be scheduled on them",
                    details={"provider": "sqs", "operation": "scheduling"},
                )
            delay = max(0, math.ceil(scheduled.timestamp() - time.time()))
            if delay > MAX_DELAY_SECONDS:
                raise ValidationError(
                    "scheduled_enqueue_time",
                    f"SQS can delay a message by at most {MAX_DELAY_SECONDS} seconds (15 minutes); "
                    f"this one is {delay} seconds away",
                )
        meta = {
            "v": 1,
            "id": str(message_id),
            "cid": message.correlation_id,
            "ct": message.content_type,
            "sid": str(message.session_id) if message.session_id else None,
            "ttl": ttl,
            "at": scheduled.timestamp() if scheduled is not None else None,
            "enc": encoding,
            "ea": sorted(k for k, v in message.attributes.items() if v == "") or None,
        }
        meta_text = _meta_json(meta)
        attributes = {META_ATTRIBUTE: {"DataType": "String", "StringValue": meta_text}}
        attributes.update(
            {k: {"DataType": "String", "StringValue": v} for k, v in message.attributes.items() if v != ""}
        )
        size = len(body.encode()) + sum(_attribute_bytes(k, a["StringValue"]) for k, a in attributes.items())
        if size > SQS_MAX_MESSAGE_SIZE:
            raise MessageTooLargeError(size, SQS_MAX_MESSAGE_SIZE)
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body, "MessageAttributes": attributes}
        if info.fifo:
            entry["MessageGroupId"] = str(message.session_id or message_id)
            entry["MessageDeduplicationId"] = str(message_id)
        if delay:
            entry["DelaySeconds"] = delay
        return entry, size

    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        return await self._send(queue, messages, None)

    async def _send(
        self, queue: QueueName, messages: Sequence[Message], at: datetime | None
    ) -> list[MessageId]:
        if len(messages) > MAX_BATCH:
            raise BatchTooLargeError(len(messages), MAX_BATCH)
        if not messages:
            return []
        info = await self._queue(queue)
        with self._forget_if_missing(queue):
            return await self._send_entries(info, messages, at)

    async def _send_entries(
        self, info: _QueueInfo, messages: Sequence[Message], at: datetime | None
    ) -> list[MessageId]:
        built = [self._entry(info, m, i, at) for i, m in enumerate(messages)]
        ids = [
            MessageId(json.loads(e["MessageAttributes"][META_ATTRIBUTE]["StringValue"])["id"])
            for e, _ in built
        ]
        # A batch request is also limited to 1 MiB in total: split where needed.
        chunks: list[list[dict[str, Any]]] = [[]]
        total = 0
        for entry, size in built:
            if chunks[-1] and total + size > SQS_MAX_MESSAGE_SIZE:
                chunks.append([])
                total = 0
            chunks[-1].append(entry)
            total += size
        sent: list[str] = []
        for chunk in chunks:
            await self._send_batch(info, chunk, sent, ids)
        return ids

    async def _send_batch(
        self, info: _QueueInfo, entries: list[dict[str, Any]], sent: list[str], ids: list[MessageId]
    ) -> None:
        """Send one batch; retry entries that failed on SQS' side; report what still failed, by message id."""
        client = await self._sqs()
        pending = entries
        failures: list[dict[str, Any]] = []
        for attempt in range(_BATCH_SEND_ATTEMPTS):
            with map_exceptions("send", info.name):
                try:
                    result = await client.send_message_batch(QueueUrl=info.url, Entries=pending)
                except Exception as exc:
                    if sent:
                        # Part of this send already went out: say which, and stop the caller retrying it all.
                        raise ProviderError(
                            f"SQS send to queue '{info.name}' failed after {len(sent)} message(s) were sent",
                            transient=False,
                            details={"sent_message_ids": list(sent), "error": type(exc).__name__},
                        ) from exc
                    raise
            by_id = {e["Id"]: e for e in pending}
            sent.extend(str(ids[int(s["Id"])]) for s in result.get("Successful", []))
            failed = result.get("Failed", []) or []
            failures = [f for f in failed if f.get("SenderFault")]
            retry = [by_id[f["Id"]] for f in failed if not f.get("SenderFault") and f["Id"] in by_id]
            if failures or not retry:
                failures += [f for f in failed if not f.get("SenderFault")]
                break
            pending = retry
            failures = [f for f in failed if not f.get("SenderFault")]
            await asyncio.sleep(0.05 * 2**attempt)
        if not failures:
            return
        report = [
            {
                "message_id": str(ids[int(f["Id"])]),
                "code": f.get("Code"),
                "sender_fault": bool(f.get("SenderFault")),
            }
            for f in failures
        ]
        codes = sorted({str(f.get("Code")) for f in failures})
        raise ProviderError(
            f"SQS rejected {len(failures)} message(s) sent to queue '{info.name}' ({', '.join(codes)}); "
            f"{len(sent)} message(s) of the send were accepted (see details)",
            transient=not sent and not any(r["sender_fault"] for r in report),
            details={"failed": report, "sent_message_ids": list(sent), "queue": info.name},
        )

    async def schedule_messages(
        self, queue: QueueName, messages: Sequence[Message], at: datetime
    ) -> list[int]:
        """Send with ``DelaySeconds`` (at most 15 minutes ahead). SQS has no sequence numbers on standard
        queues and cannot cancel a delayed message, so the numbers returned are 0."""
        await self._send(queue, messages, at)
        return [0] * len(messages)

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        raise UnsupportedOperationError(
            "SQS cannot cancel a delayed (scheduled) message: it is an ordinary message once sent",
            details={"provider": "sqs", "operation": "cancelling scheduled messages"},
        )

    # ------------------------------------------------------------------------------------ receiving

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        info = await self._queue(queue)
        if dead_letter:
            url = self._dead_letter_url(info)
        elif info.requires_session:
            raise SessionRequiredError(
                f"queue '{queue}' requires sessions: accept a session to receive from it"
            )
        else:
            url = info.url
        deadline = time.monotonic() + max(0.0, timeout.total_seconds())
        with self._forget_if_missing(queue):
            while True:
                wait = wait_time_seconds(deadline - time.monotonic(), self._wait_cap)
                found = await self._poll(info, url, dead_letter, min(max_messages, MAX_BATCH), wait)
                if found or wait == 0 or time.monotonic() >= deadline:
                    return found

    def _dead_letter_url(self, info: _QueueInfo) -> str:
        if info.dead_letter_url is None:
            raise UnsupportedOperationError(
                f"queue '{info.name}' has no dead-letter queue on SQS (enable_dead_letter_queue was off "
                "when it "
                "was created, or its redrive policy points nowhere)",
                details={"provider": "sqs", "operation": "dead-lettering", "queue": info.name},
            )
        return info.dead_letter_url

    async def _poll(
        self, info: _QueueInfo, url: str, dead_letter: bool, count: int, wait: int
    ) -> list[ReceivedMessage]:
        """One ReceiveMessage. Expired messages are removed (or dead-lettered) here and never returned."""
        client = await self._sqs()
        with map_exceptions("receive", info.name):
            response = await client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                VisibilityTimeout=info.visibility,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        received_at = time.time()
        result: list[ReceivedMessage] = []
        for raw in response.get("Messages", []) or []:
            message = self._received(info, url, dead_letter, raw, received_at)
            lock = _lock_of(message.receipt_handle)
            assert lock is not None
            if not dead_letter and self._expired(lock, raw):
                await self._expire(info, message, lock)
                continue
            result.append(message)
        return result

    def _received(
        self, info: _QueueInfo, url: str, dead_letter: bool, raw: dict[str, Any], received_at: float
    ) -> ReceivedMessage:
        system = raw.get("Attributes", {}) or {}
        attributes_raw: dict[str, Any] = dict(raw.get("MessageAttributes", {}) or {})
        meta: dict[str, Any] = {}
        if META_ATTRIBUTE in attributes_raw:
            try:
                loaded = json.loads(attributes_raw[META_ATTRIBUTE].get("StringValue", ""))
                meta = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                logger.warning("sqs: message %s has an unreadable %s", raw.get("MessageId"), META_ATTRIBUTE)
        attributes: dict[str, str] = {}
        for name, value in attributes_raw.items():
            if name == META_ATTRIBUTE:
                continue
            if "StringValue" in value:
                attributes[name] = str(value["StringValue"])
            elif "BinaryValue" in value:  # from other producers: our attributes are strings
                attributes[name] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        for name in meta.get("ea") or ():
            attributes[str(name)] = ""
        group = system.get("MessageGroupId")
        session = meta.get("sid") or (group if info.fifo and not meta else None)
        deadline = received_at + info.visibility
        lock = _Lock(
            queue=info.name,
            url=url,
            dead_letter=dead_letter,
            deadline=deadline,
            visibility=info.visibility,
            sqs_message_id=str(raw["MessageId"]),
            raw_body=str(raw.get("Body", "")),
            raw_attributes=attributes_raw,
            meta=meta,
            group_id=group,
        )
        locked_until = datetime.fromtimestamp(deadline, UTC)
        session_id = SessionId(session) if session else None
        receipt = ReceiptHandle(
            token=str(raw["ReceiptHandle"]),
            queue=info.name,
            dead_letter=dead_letter,
            session_id=session_id,
            locked_until=locked_until,
            provider_data=lock,
        )
        reason = meta.get("dlr") or (MAX_DELIVERY_REASON if dead_letter else None)
        ttl = meta.get("ttl")
        at = meta.get("at")
        return ReceivedMessage(
            body=decode_body(lock.raw_body, meta.get("enc")),
            message_id=MessageId(meta.get("id") or raw["MessageId"]),
            sequence_number=int(system.get("SequenceNumber", 0)),
            enqueued_time=datetime.fromtimestamp(int(system.get("SentTimestamp", 0)) / 1000, UTC),
            delivery_count=int(system.get("ApproximateReceiveCount", 1)),
            attributes=attributes,
            session_id=session_id,
            correlation_id=meta.get("cid"),
            content_type=meta.get("ct"),
            time_to_live=timedelta(seconds=ttl) if ttl else None,
            scheduled_enqueue_time=datetime.fromtimestamp(at, UTC) if at else None,
            dead_letter_reason=reason,
            dead_letter_description=meta.get("dld"),
            receipt_handle=receipt,
            locked_until=locked_until,
        )

    def _expired(self, lock: _Lock, raw: dict[str, Any]) -> bool:
        ttl = lock.meta.get("ttl")
        if not ttl:
            return False
        sent = int((raw.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000
        start = max(sent, float(lock.meta.get("at") or 0))
        return bool(self._clock() >= start + float(ttl))

    async def _expire(self, info: _QueueInfo, message: ReceivedMessage, lock: _Lock) -> None:
        """Remove an expired message, or move it to the DLQ if the queue says so. Failures only delay this."""
        try:
            if info.dead_letter_on_expiry and info.dead_letter_url is not None:
                await self._dead_letter(message.receipt_handle, lock, TTL_EXPIRED_REASON, None, verify=False)
            else:
                await self._settle("complete", message.receipt_handle, lock)
        except QueueError as exc:
            logger.warning(
                "sqs: could not remove expired message %s from %r: %r", message.message_id, info.name, exc
            )

    # ------------------------------------------------------------------------------------- settling

    async def _settle(self, operation: str, receipt: ReceiptHandle, lock: _Lock | None) -> None:
        url = lock.url if lock is not None else await self._receipt_url(receipt)
        if lock is not None:
            lock.check()
        client = await self._sqs()
        with map_exceptions(operation, receipt.queue, _SETTLE_ERRORS):
            if operation == "complete":
                await client.delete_message(QueueUrl=url, ReceiptHandle=receipt.token)
            else:
                await client.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt.token, VisibilityTimeout=0
                )
        if lock is not None:
            lock.state = "settled"
            if lock.session is not None:
                lock.session._settled(lock, abandoned=operation == "abandon")

    async def _receipt_url(self, receipt: ReceiptHandle) -> str:
        info = await self._queue(receipt.queue)
        return self._dead_letter_url(info) if receipt.dead_letter else info.url

    async def complete(self, receipt: ReceiptHandle) -> None:
        await self._settle("complete", receipt, _lock_of(receipt))

    async def abandon(self, receipt: ReceiptHandle) -> None:
        await self._settle("abandon", receipt, _lock_of(receipt))

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        lock = _lock_of(receipt)
        if lock is not None and lock.session is not None:
            return await lock.session.renew_session_lock()
        if lock is not None:
            lock.check()
            url, visibility = lock.url, lock.visibility
        else:
            url, visibility = await self._receipt_url(receipt), (await self._queue(receipt.queue)).visibility
        client = await self._sqs()
        with map_exceptions("renew_lock", receipt.queue, _SETTLE_ERRORS):
            await client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt.token, VisibilityTimeout=visibility
            )
        deadline = time.time() + visibility
        if lock is not None:
            lock.deadline = deadline
        return datetime.fromtimestamp(deadline, UTC)

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        lock = _lock_of(receipt)
        if receipt.dead_letter:
            raise UnsupportedOperationError(
                f"'{receipt.queue}' dead-letter queue messages cannot be dead-lettered again; complete them "
                "or "
                "resubmit them to their queue",
                details={"provider": "sqs", "operation": "dead-lettering"},
            )
        if lock is None:
            raise ValidationError(
                "receipt", "dead-lettering on SQS needs the receipt of a message received by this provider"
            )
        await self._dead_letter(receipt, lock, reason, description, verify=True)

    async def _dead_letter(
        self, receipt: ReceiptHandle, lock: _Lock, reason: str, description: str | None, *, verify: bool
    ) -> None:
        """Copy the message to the DLQ with the reason, then delete the original, only once the copy is in."""
        info = await self._queue(receipt.queue)
        dead_letter_url = self._dead_letter_url(info)
        lock.check()
        client = await self._sqs()
        if verify:
            # Extending the visibility proves the receipt is live (on FIFO) and keeps it ours during the copy.
            with map_exceptions("dead_letter", receipt.queue, _SETTLE_ERRORS):
                await client.change_message_visibility(
                    QueueUrl=lock.url, ReceiptHandle=receipt.token, VisibilityTimeout=lock.visibility
                )
            lock.deadline = time.time() + lock.visibility
        meta = dict(lock.meta) or {"v": 1, "id": lock.sqs_message_id}
        meta["dlr"] = _clip_json(reason, _DEAD_LETTER_REASON_BYTES)
        meta["dld"] = _clip_json(description, _DEAD_LETTER_DESCRIPTION_BYTES)
        attributes = {k: v for k, v in lock.raw_attributes.items() if k != META_ATTRIBUTE}
        attributes[META_ATTRIBUTE] = {"DataType": "String", "StringValue": _meta_json(meta)}
        request: dict[str, Any] = {
            "QueueUrl": dead_letter_url,
            "MessageBody": lock.raw_body,
            "MessageAttributes": attributes,
        }
        if info.fifo:
            request["MessageGroupId"] = lock.group_id or lock.sqs_message_id
            request["MessageDeduplicationId"] = f"dl-{lock.sqs_message_id}"
        with map_exceptions("dead_letter", receipt.queue):
            await client.send_message(**request)
        try:
            await self._settle("complete", receipt, lock)
        except QueueError as exc:
            exc.details["dead_letter_copy_sent"] = True
            raise

    # ------------------------------------------------------------------------------------- sessions

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        if not self._fifo:
            raise UnsupportedOperationError(
                "sessions on SQS are emulated on FIFO message groups: set use_fifo_queues=True",
                details={"provider": "sqs", "operation": "sessions"},
            )
        if session_id is not None:
            raise UnsupportedOperationError(
                f"SQS cannot receive from one chosen message group, so session {session_id!r} cannot be "
                "accepted "
                "by name; accept the next available session instead (session_id=None)",
                details={"provider": "sqs", "operation": "accepting a named session"},
            )
        info = await self._queue(queue)
        if not info.requires_session:
            raise SessionRequiredError(f"queue '{queue}' does not have sessions enabled")
        deadline = time.monotonic() + max(0.0, timeout.total_seconds())
        while True:
            wait = wait_time_seconds(deadline - time.monotonic(), self._wait_cap)
            found = await self._poll(info, info.url, False, MAX_BATCH, wait)
            if found:
                group = _group_of(found[0])
                mine = [m for m in found if _group_of(m) == group]
                await self._release([m for m in found if _group_of(m) != group], info.name)
                return SqsSession(self, info, SessionId(found[0].session_id or group or "?"), mine)
            if wait == 0 or time.monotonic() >= deadline:
                return None

    async def _release(self, messages: Sequence[ReceivedMessage], queue: QueueName) -> None:
        """Visibility 0 for messages we hold but do not want; failures only mean they reappear later."""
        locks = [(m.receipt_handle.token, _lock_of(m.receipt_handle)) for m in messages]
        await self._change_visibility(
            queue, [(t, lock) for t, lock in locks if lock is not None], 0, strict=False
        )
        for _, lock in locks:
            if lock is not None:
                lock.state = "released"

    async def _change_visibility(
        self, queue: QueueName, receipts: Sequence[tuple[str, _Lock]], visibility: int, *, strict: bool
    ) -> list[str]:
        """ChangeMessageVisibilityBatch in chunks of 10; returns the tokens that failed (raises if strict)."""
        client = await self._sqs()
        failed: list[str] = []
        for start in range(0, len(receipts), MAX_BATCH):
            chunk = receipts[start : start + MAX_BATCH]
            by_url: dict[str, list[tuple[int, str]]] = {}
            for i, (token, lock) in enumerate(chunk):
                by_url.setdefault(lock.url, []).append((i, token))
            for url, entries in by_url.items():
                with map_exceptions("change_visibility", queue):
                    result = await client.change_message_visibility_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": t, "VisibilityTimeout": visibility}
                            for i, t in entries
                        ],
                    )
                for failure in result.get("Failed", []) or []:
                    failed.append(chunk[int(failure["Id"])][0])
                    logger.info("sqs: visibility change failed on %r (%s)", queue, failure.get("Code"))
        if failed and strict:
            raise SessionLockLostError(
                f"{len(failed)} message(s) of the session on queue '{queue}' were no longer in flight",
                details={"queue": queue},
            )
        return failed


class SqsSession(SessionProvider):
    """An accepted session: the message group of the first message received, plus what else came of it.

    The "lock" is SQS' own FIFO rule: while any message of a group is in flight, no other receiver gets that
    group. It therefore lasts only while this session holds in-flight messages (buffered or delivered).
    """

    def __init__(
        self, provider: SqsProvider, info: _QueueInfo, session_id: SessionId, first: Sequence[ReceivedMessage]
    ) -> None:
        self.capabilities = provider.capabilities
        self.queue = info.name
        self._provider = provider
        self._info = info
        self._session_id = session_id
        self._group = _group_of(first[0]) if first else str(session_id)
        self._buffer: deque[ReceivedMessage] = deque()
        self._delivered: dict[int, ReceivedMessage] = {}
        self._to_release: list[ReceivedMessage] = []
        self._settled_event = asyncio.Event()
        self._closed = False
        self._lost = False
        self._adopt(first)

    def __repr__(self) -> str:
        return (
            f"SqsSession(queue={self.queue!r}, session_id={self._session_id!r}, buffered={len(self._buffer)})"
        )

    def _adopt(self, messages: Sequence[ReceivedMessage]) -> None:
        for message in messages:
            _lock_of(message.receipt_handle).session = self  # type: ignore[union-attr]
            self._buffer.append(message)

    def _unsettled(self) -> list[tuple[str, _Lock]]:
        pairs = [(m.receipt_handle.token, _lock_of(m.receipt_handle)) for m in self._buffer]
        pairs += [(m.receipt_handle.token, _lock_of(m.receipt_handle)) for m in self._delivered.values()]
        return [(token, lock) for token, lock in pairs if lock is not None and lock.state == "locked"]

    @property
    def session_id(self) -> SessionId:
        return self._session_id

    @property
    def locked_until(self) -> datetime | None:
        """The earliest visibility deadline among the session's in-flight messages; None if it holds none."""
        locks = self._unsettled()
        return datetime.fromtimestamp(min(lock.deadline for _, lock in locks), UTC) if locks else None

    def _check(self) -> None:
        if self._closed:
            raise SessionLockLostError(f"session {self._session_id!r} on queue '{self.queue}' was closed")
        if self._lost or any(time.time() >= lock.deadline for _, lock in self._unsettled()):
            self._lost = True
            raise SessionLockLostError(
                f"the lock on session {self._session_id!r} of queue '{self.queue}' expired: a message's "
                "visibility "
                "timeout ran out, so other receivers may have its group; accept a session again",
                details={"queue": self.queue, "session_id": self._session_id},
            )

    def _settled(self, lock: _Lock, *, abandoned: bool) -> None:
        """Called by the provider after one of this session's messages was settled."""
        self._delivered.pop(id(lock), None)
        if abandoned:
            # Keep the group's order: what was buffered behind the abandoned message goes back with it.
            self._to_release.extend(self._buffer)
            self._buffer.clear()
        self._settled_event.set()

    async def _flush_releases(self) -> None:
        pending, self._to_release = self._to_release, []
        if pending:
            await self._provider._release(pending, self.queue)

    def _deliver(self, count: int) -> list[ReceivedMessage]:
        taken: list[ReceivedMessage] = []
        while self._buffer and len(taken) < count:
            message = self._buffer.popleft()
            self._delivered[id(_lock_of(message.receipt_handle))] = message
            taken.append(message)
        return taken

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        await self._flush_releases()
        self._check()
        if self._buffer:
            return self._deliver(max_messages)
        deadline = time.monotonic() + max(0.0, timeout.total_seconds())
        while True:
            remaining = deadline - time.monotonic()
            if self._delivered:
                # SQS returns no more of this group while some of it is in flight: wait for a settle instead
                # of polling (polling would receive and release other groups' messages for nothing).
                self._settled_event.clear()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._settled_event.wait(), remaining)
                except TimeoutError:
                    return []
                await self._flush_releases()
                self._check()
                continue
            wait = wait_time_seconds(remaining, self._provider._wait_cap)
            found = await self._provider._poll(self._info, self._info.url, False, MAX_BATCH, wait)
            mine = [m for m in found if _group_of(m) == self._group]
            await self._provider._release([m for m in found if _group_of(m) != self._group], self.queue)
            if mine:
                self._adopt(mine)
                return self._deliver(max_messages)
            if wait == 0 or time.monotonic() >= deadline:
                return []

    def _own(self, receipt: ReceiptHandle) -> None:
        lock = _lock_of(receipt)
        if lock is not None and lock.session is not self:
            raise ValidationError("receipt", f"the message does not belong to session {self._session_id!r}")

    async def complete(self, receipt: ReceiptHandle) -> None:
        self._own(receipt)
        await self._provider.complete(receipt)

    async def abandon(self, receipt: ReceiptHandle) -> None:
        self._own(receipt)
        await self._provider.abandon(receipt)
        await self._flush_releases()

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        self._own(receipt)
        await self._provider.dead_letter(receipt, reason, description)

    async def renew_session_lock(self) -> datetime:
        """Extend the visibility of every in-flight message of the session together. With none in flight
        there is nothing SQS could hold: the current time is returned."""
        self._check()
        receipts = self._unsettled()
        if not receipts:
            return datetime.now(UTC)
        visibility = self._info.visibility
        started = time.time()
        failed = await self._provider._change_visibility(self.queue, receipts, visibility, strict=False)
        if failed:
            self._lost = True
            raise SessionLockLostError(
                f"the lock on session {self._session_id!r} of queue '{self.queue}' was lost: "
                f"{len(failed)} message(s) were no longer in flight",
                details={"queue": self.queue, "session_id": self._session_id},
            )
        for _, lock in receipts:
            lock.deadline = started + visibility
        return datetime.fromtimestamp(started + visibility, UTC)

    async def close(self) -> None:
        """Release every unsettled message of the session (buffered or delivered) with visibility 0."""
        if self._closed:
            return
        self._closed = True
        unsettled = [*self._to_release, *self._buffer, *self._delivered.values()]
        self._to_release, self._delivered = [], {}
        self._buffer.clear()
        live = [
            m
            for m in unsettled
            if (lock := _lock_of(m.receipt_handle)) is not None and lock.state == "locked"
        ]
        if live:
            await self._provider._release(live, self.queue)


def _group_of(message: ReceivedMessage) -> str | None:
    lock = _lock_of(message.receipt_handle)
    return lock.group_id if lock is not None else None
