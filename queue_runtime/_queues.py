"""What a queue is made with (``QueueOptions``) and what can be read about it (``QueueProperties``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["QueueOptions", "QueueProperties", "SessionSupport"]

from enum import StrEnum


class SessionSupport(StrEnum):
    """How a provider offers sessions."""

    NATIVE = "native"
    EMULATED = "emulated"
    NONE = "none"


class QueueOptions(BaseModel):
    """Provisioning settings; the defaults follow Azure Service Bus where the clouds differ."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requires_session: bool = False
    lock_duration: timedelta = Field(default=timedelta(seconds=30))
    max_delivery_count: int = Field(default=10, ge=1, le=2000)
    default_message_ttl: timedelta | None = None
    dead_lettering_on_message_expiration: bool = False
    duplicate_detection_window: timedelta | None = None
    max_size_bytes: int | None = Field(default=None, ge=1)
    # Auto-forwarding (Service Bus): a queue or topic that exists when this queue is created or updated.
    forward_to: str | None = None
    forward_dead_lettered_messages_to: str | None = None

    @field_validator("lock_duration")
    @classmethod
    def _lock_duration_range(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=5):
            raise ValueError("lock_duration must be between 1 second and 5 minutes (Service Bus' range)")
        return value

    @field_validator("default_message_ttl", "duplicate_detection_window")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class EntityDepths(BaseModel):
    """The counts every receivable entity reports (a queue, a topic's subscription), defined once."""

    model_config = ConfigDict(frozen=True)

    active_count: int = 0
    locked_count: int = 0
    scheduled_count: int = 0
    deferred_count: int = 0
    dead_letter_count: int = 0
    size_bytes: int = 0
    session_count: int = 0

    @property
    def total_count(self) -> int:
        return self.active_count + self.locked_count + self.scheduled_count + self.deferred_count


class QueueProperties(EntityDepths):
    """A queue's settings and its depths at one moment."""

    name: str
    options: QueueOptions
    created_at: datetime
