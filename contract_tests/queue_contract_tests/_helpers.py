"""Small helpers shared by the contract modules."""

from __future__ import annotations

from typing import Any

from queue_runtime import Message, MessageId, QueueClient, ReceivedMessage, SessionId


def msg(
    body: bytes | str, *, session_id: str | None = None, message_id: str | None = None, **fields: Any
) -> Message:
    """A ``Message`` from plain strings (the identifiers are validated the same way)."""
    return Message(
        body.encode() if isinstance(body, str) else body,
        session_id=SessionId(session_id) if session_id is not None else None,
        message_id=MessageId(message_id) if message_id is not None else None,
        **fields,
    )


SHORT = 0.3  # seconds: a receive that is expected to find nothing
WAIT = 2.0  # seconds: a receive that is expected to find something (returns as soon as it does)


async def receive_all(
    client: QueueClient, queue: str, count: int, *, dead_letter: bool = False
) -> list[ReceivedMessage]:
    """Receive until ``count`` messages arrived or a receive comes back empty."""
    found: list[ReceivedMessage] = []
    while len(found) < count:
        if dead_letter:
            batch = await client.receive_dead_letter_messages(queue, count - len(found), timeout=WAIT)
        else:
            batch = await client.receive_messages(queue, count - len(found), timeout=WAIT)
        if not batch:
            break
        found.extend(batch)
    return found


async def receive_one(client: QueueClient, queue: str, *, dead_letter: bool = False) -> ReceivedMessage:
    if dead_letter:
        found = await client.receive_dead_letter_messages(queue, 1, timeout=WAIT)
    else:
        found = await client.receive_messages(queue, 1, timeout=WAIT)
    assert found, (
        f"expected a message on {'the dead-letter queue of ' if dead_letter else ''}{queue!r}, got none"
    )
    return found[0]
