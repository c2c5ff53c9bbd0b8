"""Shared test helpers for tests/emulator (imported by name: tests directories have no __init__.py)."""

from __future__ import annotations

from dataclasses import dataclass

from queue_runtime.ports import ClockControl, QueueProvider


@dataclass
class Target:
    """A provider under test plus its manual clock, the same shape for memory and emulator."""

    name: str
    provider: QueueProvider
    clock: ClockControl
