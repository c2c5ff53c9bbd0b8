"""The broker engine shared by the in-memory provider and the emulator (see DESIGN.md)."""

from .clock import Clock, ManualClock, SystemClock
from .engine import HOP_LIMIT_REASON, Broker, BrokerLimits, IdleReport, dead_letter_path, subscription_path
from .journal import Journal, JournalEntry, JournalKind, acting_client
from .records import BrokerMessage, MessageState, SessionLease, SessionSnapshot

__all__ = [
    "HOP_LIMIT_REASON",
    "Broker",
    "BrokerLimits",
    "BrokerMessage",
    "Clock",
    "IdleReport",
    "Journal",
    "JournalEntry",
    "JournalKind",
    "ManualClock",
    "MessageState",
    "SessionLease",
    "SessionSnapshot",
    "SystemClock",
    "acting_client",
    "dead_letter_path",
    "subscription_path",
]
