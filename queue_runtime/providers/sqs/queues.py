"""The connection and queue half of :class:`~.provider.SqsProvider`: configuration checks and capabilities, the one
aiobotocore client, SQS queue names, the cached queue records (bounded LRU) and provisioning (create, delete, get)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

from ..._config import AwsSqsConfig
from ..._identifiers import QueueName
from ..._messages import ReceiptHandle
from ..._queues import QueueOptions, QueueProperties, SessionSupport
from ...broker.naming import sqs_name_problem
from ...errors import (
    ConfigurationError,
    QueueAlreadyExistsError,
    QueueNotFoundError,
    UnsupportedOperationError,
    ValidationError,
)
from ...ports import Capabilities, QueueProvider
from .errors import map_exceptions
from .limits import (
    FIFO_SUFFIX,
    MAX_BATCH,
    MAX_QUEUE_NAME,
    MAX_RECEIVE_COUNT,
    MAX_USER_ATTRIBUTES,
    MAX_WAIT_SECONDS,
    META_ATTRIBUTE,
    METADATA_RESERVE,
    OPTIONS_TAG,
    RETENTION_SECONDS,
    SQS_MAX_MESSAGE_SIZE,
)
from .locks import _QueueInfo

logger = logging.getLogger("queue_runtime.providers.sqs")  # one logger for the package, as before the split

_QUEUE_CACHE_SIZE = 512
_PREFIX = re.compile(r"[A-Za-z0-9_-]*")


def _redacted(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _SqsQueues(QueueProvider):
    """The first half of :class:`SqsProvider` (which see): its client and its queues."""

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
        """The SQS name of a logical queue (or of its dead-letter queue); checks SQS' naming rule."""
        c = self.config
        full = f"{c.queue_name_prefix}{name}{c.dead_letter_queue_suffix if dead_letter else ''}"
        full += FIFO_SUFFIX if self._fifo else ""
        if "." in str(name) or "/" in str(name):
            problem = sqs_name_problem(str(name), fifo_suffix=False)
            hint = " (the provider adds '.fifo' itself)" if str(name).endswith(FIFO_SUFFIX) else ""
            raise ValidationError("queue_name", f"{problem}{hint}")
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
        if options.forward_to is not None or options.forward_dead_lettered_messages_to is not None:
            raise UnsupportedOperationError(
                "SQS has no auto-forwarding (forward_to, forward_dead_lettered_messages_to)",
                details={"provider": "sqs", "operation": "auto-forwarding"},
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

    def _dead_letter_url(self, info: _QueueInfo) -> str:
        if info.dead_letter_url is None:
            raise UnsupportedOperationError(
                f"queue '{info.name}' has no dead-letter queue on SQS (enable_dead_letter_queue was off "
                "when it "
                "was created, or its redrive policy points nowhere)",
                details={"provider": "sqs", "operation": "dead-lettering", "queue": info.name},
            )
        return info.dead_letter_url

    async def _receipt_url(self, receipt: ReceiptHandle) -> str:
        info = await self._queue(receipt.queue)
        return self._dead_letter_url(info) if receipt.dead_letter else info.url
