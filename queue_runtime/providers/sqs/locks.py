"""What the provider remembers locally: the cached record of each queue, and the lock record a receipt carries
(``ReceiptHandle.provider_data``) with its visibility deadline, so a late settle fails instead of doing nothing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..._identifiers import QueueName
from ..._messages import ReceiptHandle, ReceivedMessage
from ...errors import MessageLockLostError, SessionLockLostError

if TYPE_CHECKING:
    from .sessions import SqsSession


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


def _group_of(message: ReceivedMessage) -> str | None:
    lock = _lock_of(message.receipt_handle)
    return lock.group_id if lock is not None else None
