"""The broker engine shared by the in-memory provider and the emulator (see DESIGN.md)."""

from .clock import Clock, ManualClock, SystemClock
from .engine import Broker, BrokerLimits, dead_letter_path
from .records import BrokerMessage, MessageState, SessionLease, SessionSnapshot

__all__ = [
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
]
