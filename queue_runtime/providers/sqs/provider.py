"""The SQS adapter, :class:`SqsProvider`: sending, receiving, settling and accepting sessions, on top of the
connection and queue half in :mod:`.queues`. The package docstring describes how our model maps onto SQS."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..._identifiers import MessageId, QueueName, SessionId
from ..._messages import Message, ReceiptHandle, ReceivedMessage
from ...errors import (
    BatchTooLargeError,
    ProviderError,
    QueueError,
    SessionLockLostError,
    SessionRequiredError,
    UnsupportedOperationError,
    ValidationError,
)
from ...ports import SessionProvider
from .codec import _clip_json, _meta_json, received_message, send_entry, wait_time_seconds
from .errors import _SETTLE_ERRORS, map_exceptions
from .limits import MAX_BATCH, META_ATTRIBUTE, SQS_MAX_MESSAGE_SIZE, TTL_EXPIRED_REASON
from .locks import _group_of, _Lock, _lock_of, _QueueInfo
from .queues import _SqsQueues
from .sessions import SqsSession

__all__ = ["SqsProvider"]

logger = logging.getLogger("queue_runtime.providers.sqs")  # one logger for the package, as before the split

_BATCH_SEND_ATTEMPTS = 3
_DEAD_LETTER_REASON_BYTES = 512
_DEAD_LETTER_DESCRIPTION_BYTES = 2048


class SqsProvider(_SqsQueues):
    """The SQS adapter. One aiobotocore client, made on first use (or by :meth:`connect`) and reused."""

    # -------------------------------------------------------------------------------------- sending

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
        built = [send_entry(info, m, i, at) for i, m in enumerate(messages)]
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
            message = received_message(info, url, dead_letter, raw, received_at)
            lock = _lock_of(message.receipt_handle)
            assert lock is not None
            if not dead_letter and self._expired(lock, raw):
                await self._expire(info, message, lock)
                continue
            result.append(message)
        return result

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
                return SqsSession(self, info, SessionId.delivered(found[0].session_id or group or "?"), mine)
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
