"""The ``emulator`` provider: the port over the queue-emulator's REST API (``docs/emulator.md``).

One pooled ``aiohttp.ClientSession`` per provider. The server runs the same broker engine as the in-memory
provider and answers errors as ``{"error": {code, message, details}}``, which become the same
:class:`~queue_runtime.errors.QueueError` subclasses the in-memory provider raises. Concurrent ``complete`` calls
on one queue made in the same event-loop turn travel as one batch request (``asyncio.gather`` of completes costs
one round trip); each caller still gets its own result.

Use :meth:`EmulatorProvider.connect` (or ``await provider.start()``) to read the server's limits and clock mode
into ``capabilities``; :class:`EmulatorControl` drives the control API (reset, clock, faults, stats) from tests.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import orjson  # the message lists of every send and receive: several times faster than json

from .._config import EmulatorConfig, redact_url
from .._identifiers import MessageId, QueueName, SessionId, SubscriptionName, entity_name
from .._messages import Message, PeekedMessage, ReceiptHandle, ReceivedMessage, attributes_from_properties
from .._queues import QueueOptions, QueueProperties, SessionSupport
from .._topics import RuleProperties, SubscriptionOptions, SubscriptionProperties, TopicOptions, TopicProperties
from ..broker import BrokerMessage, IdleReport, JournalEntry, JournalKind
from ..errors import (
    BatchTooLargeError,
    OperationTimeoutError,
    ProviderError,
    QueueConnectionError,
    QueueError,
    ServiceUnavailableError,
    SessionLockLostError,
    ValidationError,
    error_from_wire,
)
from ..ports import (
    Capabilities,
    ClockControl,
    FaultControl,
    JournalControl,
    ProviderSettledSession,
    QueueProvider,
    SessionProvider,
)
from .memory import PUBLIC_STATES, broker_message_from

__all__ = ["EmulatorControl", "EmulatorFaultControl", "EmulatorProvider", "EmulatorSession"]

_DEFAULT_BATCH = 100
_DEFAULT_MESSAGE_SIZE = 256 * 1024  # the emulator's default, Service Bus Standard's limit


# ---------------------------------------------------------------- transport


def _error_from_response(status: int, raw: bytes) -> QueueError:
    try:
        error = json.loads(raw)["error"]
        return error_from_wire(
            str(error["code"]),
            str(error["message"]),
            details=error.get("details") or {},
            transient=error.get("transient"),
            retry_after=error.get("retry_after"),
        )
    except (ValueError, KeyError, TypeError):
        cls = ServiceUnavailableError if status >= 500 else ProviderError
        return cls(f"the emulator answered HTTP {status} without an error body", details={"status": status})


def _error_from_body(error: dict[str, Any]) -> QueueError:
    return error_from_wire(
        str(error["code"]), str(error["message"]), details=error.get("details") or {},
        transient=error.get("transient"), retry_after=error.get("retry_after"),
    )


class _Http:
    """The REST transport: one pooled session, JSON in and out, errors decoded into QueueErrors."""

    def __init__(self, url: str, *, max_connections: int = 100, request_timeout: float = 60.0) -> None:
        self.base = url.rstrip("/")
        self.shown = redact_url(self.base)  # what errors and reprs print: never the password
        self._max_connections = max_connections
        self._request_timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers={"Content-Type": "application/json"},
            )
        return self._session

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *,
        params: dict[str, str] | Sequence[tuple[str, str]] | None = None, wait: float = 0.0,
    ) -> Any:
        timeout = aiohttp.ClientTimeout(total=self._request_timeout + wait)
        data = orjson.dumps(body) if body is not None else None
        try:
            async with self._client().request(
                method, self.base + path, data=data, params=params, timeout=timeout,
                headers=_JSON if data is not None else None,
            ) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise OperationTimeoutError(
                f"{method} {path} got no answer from the emulator within {timeout.total:.0f}s",
                details={"url": self.shown},
            ) from exc
        except aiohttp.ClientConnectionError as exc:
            raise QueueConnectionError(
                f"cannot reach the emulator at {self.shown}: {type(exc).__name__}; is `queue-emulator` running?",
                details={"url": self.shown},
            ) from exc
        except aiohttp.ClientError as exc:
            raise QueueConnectionError(f"HTTP error talking to the emulator: {type(exc).__name__}") from exc
        if status >= 400:
            raise _error_from_response(status, raw)
        if status == 204 or not raw:
            return None
        return orjson.loads(raw)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_JSON = {"Content-Type": "application/json"}  # the emulator refuses bodies of any other type


def _q(value: str) -> str:
    return quote(value, safe="")


def _entity_path(entity: str) -> str:
    """The REST path of a queue or topic (one namespace on the server) or of a topic's subscription."""
    entity = entity_name(entity)
    if isinstance(entity, SubscriptionName):
        return f"/v1/topics/{_q(entity.topic)}/subscriptions/{_q(entity.subscription)}"
    return f"/v1/queues/{_q(entity)}"


def _topic_path(topic: str) -> str:
    return f"/v1/topics/{_q(topic)}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _to_wire(message: BrokerMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"body": base64.b64encode(message.body).decode("ascii")}
    for name in ("message_id", "session_id", "correlation_id", "content_type", "subject", "time_to_live"):
        value = getattr(message, name)
        if value is not None:
            wire[name] = value
    if message.scheduled_enqueue_time is not None:
        wire["scheduled_enqueue_time"] = _iso(message.scheduled_enqueue_time)
    if message.application_properties:
        wire["application_properties"] = message.application_properties
    return wire


def _fields_from_wire(wire: dict[str, Any]) -> dict[str, Any]:
    """A message of the REST API's JSON as ``PeekedMessage`` fields: the same values ``memory.peeked_from`` gives
    for the engine's record, built straight from JSON because every receive runs it."""
    parse = datetime.fromisoformat
    session = wire.get("session_id")
    ttl = wire.get("time_to_live")
    scheduled = wire.get("scheduled_enqueue_time")
    return {
        "body": base64.b64decode(wire["body"]),
        "message_id": MessageId.delivered(wire.get("message_id") or f"seq-{wire['sequence_number']}"),
        "sequence_number": int(wire["sequence_number"]),
        "enqueued_time": parse(wire["enqueued_time"]),
        "delivery_count": int(wire["delivery_count"]),
        "attributes": attributes_from_properties(wire.get("application_properties") or {}),
        "session_id": SessionId.delivered(session) if session else None,
        "correlation_id": wire.get("correlation_id"),
        "content_type": wire.get("content_type"),
        "subject": wire.get("subject"),
        "time_to_live": timedelta(seconds=ttl) if ttl else None,
        "scheduled_enqueue_time": parse(scheduled) if scheduled else None,
        "dead_letter_reason": wire.get("dead_letter_reason"),
        "dead_letter_description": wire.get("dead_letter_description"),
        "state": PUBLIC_STATES.get(wire["state"], wire["state"]),
    }


def _received_from_wire(wire: dict[str, Any], queue: QueueName, *, dead_letter: bool) -> ReceivedMessage:
    fields = _fields_from_wire(wire)
    locked_until = datetime.fromisoformat(wire["locked_until"]) if wire.get("locked_until") else None
    receipt = ReceiptHandle(
        token=wire["lock_token"], queue=queue, dead_letter=dead_letter, session_id=fields["session_id"],
        locked_until=locked_until,
    )
    return ReceivedMessage(**fields, receipt_handle=receipt, locked_until=locked_until)


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)


# ---------------------------------------------------------------- clock and faults


class EmulatorClockControl(ClockControl):
    def __init__(self, http: _Http) -> None:
        self._http = http

    async def now(self) -> datetime:
        answer = await self._http.call("GET", "/v1/_control/clock")
        return datetime.fromisoformat(answer["now"])

    async def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValidationError("delta", "time cannot go backwards")
        answer = await self._http.call("POST", "/v1/_control/clock/advance", {"seconds": delta.total_seconds()})
        return datetime.fromisoformat(answer["now"])


class EmulatorFaultControl(FaultControl):
    def __init__(self, http: _Http) -> None:
        self._http = http

    async def inject(
        self,
        operation: str,
        *,
        error: str = "service_unavailable",
        count: int = 1,
        latency: timedelta | None = None,
        queue: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"operation": operation, "error": error, "count": count}
        if latency is not None:
            body["latency"] = latency.total_seconds()
        if queue is not None:
            body["queue"] = queue
        await self._http.call("POST", "/v1/_control/faults", body)

    async def lose_lock(self, receipt: ReceiptHandle | str) -> None:
        """The next settle or renewal with this receipt fails with MessageLockLostError; the message goes back
        to its queue (as when a lock expires)."""
        token = receipt if isinstance(receipt, str) else receipt.token
        await self._http.call("POST", "/v1/_control/faults/lose-lock", {"lock_token": token})

    async def clear(self) -> None:
        await self._http.call("DELETE", "/v1/_control/faults")


def _journal_entry_from_wire(wire: dict[str, Any]) -> JournalEntry:
    locked_until = wire.get("locked_until")
    return JournalEntry(
        id=int(wire["id"]),
        time=datetime.fromisoformat(wire["time"]).timestamp(),
        kind=JournalKind(wire["kind"]),
        entity=wire["entity"],
        message_id=wire.get("message_id"),
        sequence_number=wire.get("sequence_number"),
        session_id=wire.get("session_id"),
        delivery_count=wire.get("delivery_count"),
        locked_until=datetime.fromisoformat(locked_until).timestamp() if locked_until else None,
        client=wire.get("client"),
        reason=wire.get("reason"),
        description=wire.get("description"),
    )


class EmulatorJournalControl(JournalControl):
    """The emulator's journal (``GET /v1/_control/journal``) and ``POST /v1/_control/wait-idle``."""

    def __init__(self, http: _Http) -> None:
        self._http = http

    async def entries(
        self,
        *,
        queues: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        message_id: str | None = None,
        since: datetime | None = None,
        after_id: int = 0,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        params: list[tuple[str, str]] = [("entity", q) for q in queues or ()]
        params += [("kind", str(k)) for k in kinds or ()]
        if message_id is not None:
            params.append(("message_id", message_id))
        if since is not None:
            params.append(("since", since.astimezone(UTC).isoformat()))
        if after_id:
            params.append(("after_id", str(after_id)))
        if limit is not None:
            params.append(("limit", str(limit)))
        answer = await self._http.call("GET", "/v1/_control/journal", params=params)
        return [_journal_entry_from_wire(e) for e in answer["entries"]]

    async def wait_until_idle(
        self, queues: Sequence[str], *, timeout: float = 10.0, quiet: float = 0.1, grace: float = 0.0
    ) -> IdleReport:
        answer = await self._http.call(
            "POST", "/v1/_control/wait-idle",
            {"entities": list(queues), "timeout": timeout, "quiet": quiet, "grace": grace}, wait=timeout + quiet,
        )
        return IdleReport(idle=bool(answer["idle"]), busy=dict(answer["busy"]), waited=float(answer["waited"]))


class EmulatorControl:
    """Test-side handle on a running emulator's control API (``/v1/_control``)."""

    def __init__(self, url: str) -> None:
        self._http = _Http(url)
        self.url = self._http.base
        self.clock: ClockControl = EmulatorClockControl(self._http)
        self.faults: EmulatorFaultControl = EmulatorFaultControl(self._http)
        self.journal: EmulatorJournalControl = EmulatorJournalControl(self._http)

    def __repr__(self) -> str:
        return f"EmulatorControl(url={redact_url(self.url)!r})"

    async def reset(self) -> None:
        """Forget every queue and message, clear faults and counters (entity-file queues come back)."""
        await self._http.call("POST", "/v1/_control/reset")

    async def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._http.call("GET", "/v1/_control/stats")
        return answer

    async def info(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._http.call("GET", "/v1/info")
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------- complete batching


class _CompleteBatch:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.futures: list[asyncio.Future[None]] = []


class _CompleteBatcher:
    """Completes issued in the same loop turn for one queue go out as one ``POST .../locks/complete``."""

    def __init__(self, http: _Http, max_batch: int) -> None:
        self._http = http
        self.max_batch = max_batch
        self._open: dict[tuple[str, bool], _CompleteBatch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def complete(self, queue: str, dead_letter: bool, token: str) -> None:
        key = (queue, dead_letter)
        batch = self._open.get(key)
        loop = asyncio.get_running_loop()
        if batch is None or len(batch.tokens) >= self.max_batch:
            batch = self._open[key] = _CompleteBatch()
            loop.call_soon(self._launch, key, batch)
        future: asyncio.Future[None] = loop.create_future()
        batch.tokens.append(token)
        batch.futures.append(future)
        await future

    def _launch(self, key: tuple[str, bool], batch: _CompleteBatch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        task = asyncio.ensure_future(self._send(key, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, key: tuple[str, bool], batch: _CompleteBatch) -> None:
        queue, dead_letter = key
        try:
            if len(batch.tokens) == 1:
                await self._http.call(
                    "POST", f"{_entity_path(queue)}/locks/{_q(batch.tokens[0])}/complete",
                    {"dead_letter": dead_letter},
                )
                errors: list[QueueError | None] = [None]
            else:
                answer = await self._http.call(
                    "POST", f"{_entity_path(queue)}/locks/complete",
                    {"lock_tokens": batch.tokens, "dead_letter": dead_letter},
                )
                errors = [
                    None if result.get("error") is None else _error_from_body(result["error"])
                    for result in answer["results"]
                ]
        except BaseException as exc:  # the transport failed for every caller in the batch
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for future, error in zip(batch.futures, errors, strict=True):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


# ---------------------------------------------------------------- provider


def _capabilities(info: dict[str, Any] | None) -> Capabilities:
    return Capabilities(
        provider="emulator",
        sessions=SessionSupport.NATIVE,
        session_accept_specific=True,
        session_state=True,
        max_batch_size=int(info["max_batch_size"]) if info else _DEFAULT_BATCH,
        max_message_size=int(info["max_message_size"]) if info else _DEFAULT_MESSAGE_SIZE,
        dead_letter=True,
        scheduling=True,
        cancel_scheduled=True,
        deferral=True,
        peek=True,
        lock_renewal=True,
        duplicate_detection=True,
        ttl=True,
        clock_control=bool(info and info["clock"] == "manual"),
        fault_injection=True,
        journal=bool(info and info.get("journal_size", 0)),
        topics=True,
    )


class EmulatorProvider(QueueProvider):
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self._http = _Http(
            self.config.url,
            max_connections=self.config.max_connections,
            request_timeout=self.config.request_timeout.total_seconds(),
        )
        self._info: dict[str, Any] | None = None
        self.capabilities = _capabilities(None)
        self._clock = EmulatorClockControl(self._http)
        self._faults = EmulatorFaultControl(self._http)
        self._journal = EmulatorJournalControl(self._http)
        self._batcher = _CompleteBatcher(self._http, self.capabilities.max_batch_size)

    @classmethod
    async def connect(cls, config: EmulatorConfig | None = None) -> EmulatorProvider:
        """A provider whose capabilities reflect the server (limits, clock mode)."""
        provider = cls(config)
        try:
            await provider.start()
        except BaseException:
            await provider.aclose()
            raise
        return provider

    async def start(self) -> None:
        """Ask the server for its limits and clock mode (``GET /v1/info``)."""
        self._info = await self._http.call("GET", "/v1/info")
        self.capabilities = _capabilities(self._info)
        self._batcher.max_batch = self.capabilities.max_batch_size

    def __repr__(self) -> str:
        return f"EmulatorProvider(url={self._http.shown!r})"

    @property
    def server_info(self) -> dict[str, Any]:
        """The server's ``GET /v1/info`` as read at start (limits, clock, where its other fronts listen)."""
        return dict(self._info or {})

    @property
    def clock(self) -> ClockControl | None:
        # Before start() we cannot know; the server refuses to advance a system clock anyway.
        if self._info is not None and not self.capabilities.clock_control:
            return None
        return self._clock

    @property
    def faults(self) -> EmulatorFaultControl:
        return self._faults

    @property
    def journal(self) -> JournalControl | None:
        return self._journal if self.capabilities.journal else None

    def _queue_path(self, queue: str) -> str:
        return _entity_path(queue)

    # -- publish/subscribe
    async def create_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        answer = await self._http.call("PUT", _topic_path(name), options.model_dump(mode="json"))
        return TopicProperties.model_validate(answer)

    async def update_topic(self, name: QueueName, options: TopicOptions) -> TopicProperties:
        answer = await self._http.call("PATCH", _topic_path(name), options.model_dump(mode="json"))
        return TopicProperties.model_validate(answer)

    async def get_topic(self, name: QueueName) -> TopicProperties:
        return TopicProperties.model_validate(await self._http.call("GET", _topic_path(name)))

    async def list_topics(self) -> list[TopicProperties]:
        answer = await self._http.call("GET", "/v1/topics")
        return [TopicProperties.model_validate(t) for t in answer["topics"]]

    async def delete_topic(self, name: QueueName) -> None:
        await self._http.call("DELETE", _topic_path(name))

    async def create_subscription(
        self, name: SubscriptionName, options: SubscriptionOptions, rule: RuleProperties | None
    ) -> SubscriptionProperties:
        body = options.model_dump(mode="json")
        if rule is not None:
            body["rule"] = rule.model_dump(mode="json", exclude={"created_at"})
        answer = await self._http.call("PUT", _entity_path(name), body)
        return SubscriptionProperties.model_validate(answer)

    async def update_subscription(self, name: SubscriptionName, options: SubscriptionOptions) -> SubscriptionProperties:
        answer = await self._http.call("PATCH", _entity_path(name), options.model_dump(mode="json"))
        return SubscriptionProperties.model_validate(answer)

    async def get_subscription(self, name: SubscriptionName) -> SubscriptionProperties:
        return SubscriptionProperties.model_validate(await self._http.call("GET", _entity_path(name)))

    async def list_subscriptions(self, topic: QueueName) -> list[SubscriptionProperties]:
        answer = await self._http.call("GET", _topic_path(topic) + "/subscriptions")
        return [SubscriptionProperties.model_validate(s) for s in answer["subscriptions"]]

    async def delete_subscription(self, name: SubscriptionName) -> None:
        await self._http.call("DELETE", _entity_path(name))

    async def create_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        answer = await self._http.call(
            "PUT", f"{_entity_path(subscription)}/rules/{_q(rule.name)}",
            rule.model_dump(mode="json", exclude={"created_at"}),
        )
        return RuleProperties.model_validate(answer)

    async def update_rule(self, subscription: SubscriptionName, rule: RuleProperties) -> RuleProperties:
        answer = await self._http.call(
            "PATCH", f"{_entity_path(subscription)}/rules/{_q(rule.name)}",
            rule.model_dump(mode="json", exclude={"created_at"}),
        )
        return RuleProperties.model_validate(answer)

    async def delete_rule(self, subscription: SubscriptionName, rule_name: str) -> None:
        await self._http.call("DELETE", f"{_entity_path(subscription)}/rules/{_q(rule_name)}")

    async def list_rules(self, subscription: SubscriptionName) -> list[RuleProperties]:
        answer = await self._http.call("GET", f"{_entity_path(subscription)}/rules")
        return [RuleProperties.model_validate(r) for r in answer["rules"]]

    # -- provisioning
    async def create_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        # The REST API takes durations as seconds (numbers), strictly.
        body = {k: v.total_seconds() if isinstance(v, timedelta) else v for k, v in options.model_dump().items()}
        answer = await self._http.call("PUT", self._queue_path(name), body)
        return QueueProperties.model_validate(answer)

    async def delete_queue(self, name: QueueName) -> None:
        await self._http.call("DELETE", self._queue_path(name))

    async def get_queue(self, name: QueueName) -> QueueProperties:
        return QueueProperties.model_validate(await self._http.call("GET", self._queue_path(name)))

    async def ping(self, queue: QueueName | None = None) -> dict[str, Any]:
        """The emulator's own health endpoint: the process and the fronts it runs."""
        health = await self._http.call("GET", "/health")
        if queue is not None:
            await self.get_queue(queue)
        return {"fronts": health.get("fronts", {})} if isinstance(health, dict) else {}

    async def update_queue(self, name: QueueName, options: QueueOptions) -> QueueProperties:
        answer = await self._http.call("PATCH", self._queue_path(name), options.model_dump(mode="json"))
        return QueueProperties.model_validate(answer)

    # -- messages
    async def send_messages(self, queue: QueueName, messages: Sequence[Message]) -> list[MessageId]:
        if len(messages) > self.capabilities.max_batch_size:
            raise BatchTooLargeError(len(messages), self.capabilities.max_batch_size)
        records = [broker_message_from(m) for m in messages]
        await self._http.call(
            "POST", self._queue_path(queue) + "/messages", {"messages": [_to_wire(r) for r in records]}
        )
        return [MessageId(r.message_id or "") for r in records]

    async def receive_messages(
        self, queue: QueueName, max_messages: int, timeout: timedelta, *, dead_letter: bool = False
    ) -> list[ReceivedMessage]:
        wait = _seconds(timeout)
        answer = await self._http.call(
            "POST", self._queue_path(queue) + "/messages/receive",
            {"max_messages": max_messages, "timeout": wait, "dead_letter": dead_letter}, wait=wait,
        )
        return [_received_from_wire(m, queue, dead_letter=dead_letter) for m in answer["messages"]]

    def _lock_path(self, receipt: ReceiptHandle, action: str) -> str:
        return f"{self._queue_path(receipt.queue)}/locks/{_q(receipt.token)}/{action}"

    async def complete(self, receipt: ReceiptHandle) -> None:
        await self._batcher.complete(str(receipt.queue), receipt.dead_letter, receipt.token)

    async def complete_messages(self, receipts: Sequence[ReceiptHandle]) -> list[QueueError | None]:
        """One ``POST .../locks/complete`` per queue; each receipt gets its own result."""
        results: list[QueueError | None] = [None] * len(receipts)
        groups: dict[tuple[str, bool], list[int]] = {}
        for index, receipt in enumerate(receipts):
            groups.setdefault((str(receipt.queue), receipt.dead_letter), []).append(index)
        for (queue, dead_letter), indexes in groups.items():
            for start in range(0, len(indexes), self.capabilities.max_batch_size):
                chunk = indexes[start : start + self.capabilities.max_batch_size]
                answer = await self._http.call(
                    "POST", f"{_entity_path(queue)}/locks/complete",
                    {"lock_tokens": [receipts[i].token for i in chunk], "dead_letter": dead_letter},
                )
                for index, result in zip(chunk, answer["results"], strict=True):
                    if result.get("error") is not None:
                        results[index] = _error_from_body(result["error"])
        return results

    async def abandon(self, receipt: ReceiptHandle) -> None:
        await self._http.call("POST", self._lock_path(receipt, "abandon"), {"dead_letter": receipt.dead_letter})

    async def dead_letter(self, receipt: ReceiptHandle, reason: str, description: str | None) -> None:
        await self._http.call(
            "POST", self._lock_path(receipt, "dead-letter"),
            {"dead_letter": receipt.dead_letter, "reason": reason, "description": description},
        )

    async def defer(self, receipt: ReceiptHandle) -> int:
        answer = await self._http.call(
            "POST", self._lock_path(receipt, "defer"), {"dead_letter": receipt.dead_letter}
        )
        return int(answer["sequence_number"])

    async def receive_deferred(self, queue: QueueName, sequence_numbers: Sequence[int]) -> list[ReceivedMessage]:
        answer = await self._http.call(
            "POST", self._queue_path(queue) + "/messages/deferred", {"sequence_numbers": list(sequence_numbers)}
        )
        return [_received_from_wire(m, queue, dead_letter=False) for m in answer["messages"]]

    async def renew_lock(self, receipt: ReceiptHandle) -> datetime:
        answer = await self._http.call(
            "POST", self._lock_path(receipt, "renew"), {"dead_letter": receipt.dead_letter}
        )
        return datetime.fromisoformat(answer["locked_until"])

    async def peek_messages(
        self, queue: QueueName, max_messages: int, from_sequence: int | None = None, *, dead_letter: bool = False
    ) -> list[PeekedMessage]:
        answer = await self._http.call(
            "POST", self._queue_path(queue) + "/messages/peek",
            {"max_messages": max_messages, "from_sequence": from_sequence or 1, "dead_letter": dead_letter},
        )
        return [PeekedMessage(**_fields_from_wire(m)) for m in answer["messages"]]

    async def schedule_messages(self, queue: QueueName, messages: Sequence[Message], at: datetime) -> list[int]:
        records = [broker_message_from(m) for m in messages]
        answer = await self._http.call(
            "POST", self._queue_path(queue) + "/messages/schedule",
            {"messages": [_to_wire(r) for r in records], "at": _iso(at.timestamp())},
        )
        return [int(seq) for seq in answer["sequence_numbers"]]

    async def cancel_scheduled(self, queue: QueueName, sequence_numbers: Sequence[int]) -> None:
        await self._http.call(
            "POST", self._queue_path(queue) + "/messages/cancel-scheduled",
            {"sequence_numbers": list(sequence_numbers)},
        )

    async def accept_session(
        self, queue: QueueName, session_id: SessionId | None, timeout: timedelta
    ) -> SessionProvider | None:
        wait = 0.0 if session_id is not None else _seconds(timeout)
        body: dict[str, Any] = {"timeout": wait}
        if session_id is not None:
            body["session_id"] = str(session_id)
        answer = await self._http.call("POST", self._queue_path(queue) + "/sessions/accept", body, wait=wait)
        lease = answer["session"]
        if lease is None:
            return None
        return EmulatorSession(self, queue, lease["session_id"], lease["session_token"], lease["locked_until"])

    async def aclose(self) -> None:
        await self._http.aclose()


class EmulatorSession(ProviderSettledSession):
    def __init__(
        self, provider: EmulatorProvider, queue: QueueName, session_id: str, token: str, locked_until: str
    ) -> None:
        self.capabilities = provider.capabilities
        self.queue = queue
        self._provider = provider
        self._http = provider._http
        self._session_id = session_id
        self._token = token
        self._locked_until = datetime.fromisoformat(locked_until)
        self._path = f"{_entity_path(queue)}/sessions/{_q(session_id)}"

    def __repr__(self) -> str:
        return f"EmulatorSession(queue={self.queue!r}, session_id={self._session_id!r})"

    @property
    def session_id(self) -> SessionId:
        return SessionId.delivered(self._session_id)

    @property
    def locked_until(self) -> datetime | None:
        return self._locked_until

    async def receive_messages(self, max_messages: int, timeout: timedelta) -> list[ReceivedMessage]:
        wait = _seconds(timeout)
        answer = await self._http.call(
            "POST", self._path + "/receive",
            {"session_token": self._token, "max_messages": max_messages, "timeout": wait}, wait=wait,
        )
        return [_received_from_wire(m, self.queue, dead_letter=False) for m in answer["messages"]]

    async def renew_session_lock(self) -> datetime:
        answer = await self._http.call("POST", self._path + "/renew", {"session_token": self._token})
        self._locked_until = datetime.fromisoformat(answer["locked_until"])
        return self._locked_until

    async def get_state(self) -> bytes | None:
        answer = await self._http.call("GET", self._path + "/state", params={"session_token": self._token})
        state = answer["state"]
        return None if state is None else base64.b64decode(state)

    async def set_state(self, state: bytes | None) -> None:
        encoded = None if state is None else base64.b64encode(state).decode("ascii")
        await self._http.call("PUT", self._path + "/state", {"session_token": self._token, "state": encoded})

    async def close(self) -> None:
        try:
            await self._http.call("POST", self._path + "/release", {"session_token": self._token})
        except SessionLockLostError:
            pass  # already expired or released: closing twice is harmless
