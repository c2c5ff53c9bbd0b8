"""The broker engine shared by the in-memory provider and the emulator (see DESIGN.md)."""

from .clock import Clock, ManualClock, SystemClock
from .engine import HOP_LIMIT_REASON, Broker, BrokerLimits, dead_letter_path, subscription_path
from .records import BrokerMessage, MessageState, SessionLease, SessionSnapshot

__all__ = [
    "HOP_LIMIT_REASON",
    "Broker",
    "BrokerLimits",
    "BrokerMessage",
    "Clock",
    "ManualClock",
    "MessageState",
    "SessionLease",
    "SessionSnapshot",
    "SystemClock",
    "dead_letter_path",
    "subscription_path",
]
