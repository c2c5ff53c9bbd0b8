"""Lock tokens are unguessable: holding one lock tells nothing about the tokens of locks held by others."""

from __future__ import annotations

import uuid

import pytest

from queue_runtime import QueueOptions
from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.errors import MessageLockLostError


def _neighbours(token: str, spread: int = 64) -> list[str]:
    """Every token the old scheme (a per-entity prefix plus a counter) would have issued next to ``token``."""
    prefix, counter = token[:24], int(token[24:], 16)
    return [f"{prefix}{(counter + d) & 0xFFFF_FFFF_FFFF:012x}" for d in range(-spread, spread + 1) if d]


def test_a_token_computed_from_another_clients_token_settles_nothing() -> None:
    broker = Broker()
    broker.create_queue("q")
    broker.send("q", [BrokerMessage(body=f"m{i}".encode()) for i in range(10)])
    [mine] = broker.receive("q", 1)
    theirs = broker.receive("q", 9)  # locked by other clients
    assert mine.lock_token is not None
    guesses = _neighbours(mine.lock_token)
    assert not {m.lock_token for m in theirs} & set(guesses)
    for guess in guesses:
        with pytest.raises(MessageLockLostError):
            broker.complete("q", guess)
    assert broker.get_queue("q").locked_count == 10  # nobody else's message was settled


def test_tokens_are_random_version_4_uuids_without_a_shared_prefix() -> None:
    broker = Broker()
    broker.create_queue("q")
    broker.create_queue("s", QueueOptions(requires_session=True))
    broker.send("q", [BrokerMessage(body=b"x") for _ in range(300)])
    tokens = [m.lock_token for m in broker.receive("q", 300)]
    broker.send("s", [BrokerMessage(body=b"x", session_id="a")])
    tokens.append(broker.accept_session("s", "a").lock_token)
    parsed = [uuid.UUID(t) for t in tokens if t is not None]
    assert len(parsed) == 301 and len(set(parsed)) == 301
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len({str(u)[:8] for u in parsed}) > 250  # no common prefix: the leading bits are random too
