"""Request counters for ``GET /v1/_control/stats``."""

from __future__ import annotations

import time
from collections import Counter

__all__ = ["Stats"]


class Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def record(self, operation: str, error_code: str | None) -> None:
        self.requests[operation] += 1
        if error_code is not None:
            self.errors[error_code] += 1

    def clear(self) -> None:
        self.requests.clear()
        self.errors.clear()

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started
