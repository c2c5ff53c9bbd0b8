"""Queue names that are unique per test and per xdist worker, and valid on every provider.

``QueueName`` allows 1-80 characters of ``[A-Za-z0-9_-]`` with a letter or digit at both ends; SQS adds
``.fifo`` and some adapters add prefixes or ``-dlq``, so names stay within :data:`MAX_LENGTH` characters.
"""

from __future__ import annotations

import os
import re
import uuid

from queue_runtime import QueueName

__all__ = ["MAX_LENGTH", "unique_queue_name", "worker_id"]

MAX_LENGTH = 60
_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def worker_id() -> str:
    """``gw0``, ``gw1``... under pytest-xdist, ``main`` otherwise."""
    return os.environ.get("PYTEST_XDIST_WORKER", "") or "main"


def unique_queue_name(test_name: str, prefix: str = "q") -> QueueName:
    """``q-<worker>-<slug of the test name>-<8 hex>``: readable in a broker's UI and never reused."""
    suffix = uuid.uuid4().hex[:8]
    head = f"{prefix}-{_UNSAFE.sub('', worker_id())}-"
    room = MAX_LENGTH - len(head) - len(suffix) - 1
    slug = _UNSAFE.sub("-", test_name.split("[", 1)[0]).strip("-")[:room].strip("-")
    return QueueName(f"{head}{slug}-{suffix}" if slug else f"{head}{suffix}")
