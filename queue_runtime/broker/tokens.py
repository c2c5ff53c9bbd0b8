"""Lock tokens: unguessable, UUID-shaped (AMQP carries them as a 16-byte uuid), cheap.

Service Bus lock tokens are random, so a client that holds one lock learns nothing about the tokens of locks held by
others. Each token here is a version-4 UUID made of 122 bits from ``os.urandom`` (the operating system's CSPRNG,
what ``uuid.uuid4`` and ``secrets`` use). ``uuid.uuid4()`` costs one system call and one ``UUID`` object per token,
several times a counter; reading the random bytes for 128 tokens at once keeps a token near the cost of the old
prefix-plus-counter scheme (``benchmarks/inmemory_throughput.py`` prints all three).
"""

from __future__ import annotations

import os

__all__ = ["new_lock_token"]

_BATCH = 128
_VARIANT = "89ab"  # RFC 4122 variant bits 10xx in the first hex digit of the fourth group
_pending: list[str] = []


def _refill() -> None:
    raw = os.urandom(16 * _BATCH).hex()
    _pending.extend(
        f"{raw[i:i + 8]}-{raw[i + 8:i + 12]}-4{raw[i + 13:i + 16]}-"
        f"{_VARIANT[int(raw[i + 16], 16) & 3]}{raw[i + 17:i + 20]}-{raw[i + 20:i + 32]}"
        for i in range(0, 32 * _BATCH, 32)
    )


# A forked child must not hand out the tokens its parent drew (and will hand out too).
os.register_at_fork(after_in_child=_pending.clear)


def new_lock_token() -> str:
    """A fresh random token; every call returns one no other call returned (with 122 random bits)."""
    if not _pending:
        _refill()
    return _pending.pop()
