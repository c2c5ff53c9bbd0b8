"""The data directory: an optional SQLite database (WAL mode) that keeps the engine's state across restarts and
crashes. See ``docs/persistence.md``."""

from .codec import RecordCorrupted
from .sqlite import COUNTER_NAME, DATABASE_NAME, DataDirectoryError, SqliteStore, open_durable_broker

__all__ = [
    "COUNTER_NAME", "DATABASE_NAME", "DataDirectoryError", "RecordCorrupted", "SqliteStore", "open_durable_broker",
]
