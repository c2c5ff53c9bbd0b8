"""Service Bus link addresses: ``$cbs``, an entity path (with its dead-letter sub-queue), ``<entity>/$management``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from queue_runtime.broker import Broker
from queue_runtime.errors import QueueError

from .errors import fault_from_engine
from .pubsub import check_link_direction

__all__ = ["DEAD_LETTER_SUFFIX", "MANAGEMENT_SUFFIX", "Address", "check_entity", "parse_address"]

DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
MANAGEMENT_SUFFIX = "/$management"


@dataclass(frozen=True, slots=True)
class Address:
    """What a link address names: ``$cbs``, an entity path, or an entity's ``$management`` node."""

    kind: str  # "cbs" | "entity" | "management"
    path: str = ""

    @property
    def queue(self) -> str:
        return self.path[: -len(DEAD_LETTER_SUFFIX)] if self.is_dead_letter else self.path

    @property
    def is_dead_letter(self) -> bool:
        return self.path.lower().endswith(DEAD_LETTER_SUFFIX.lower())


def parse_address(address: str | None) -> Address | None:
    """``amqps://host:port/q1``, ``sb://host/q1/$DeadLetterQueue``, ``q1/$management`` or ``$cbs``."""
    if not address:
        return None
    path = urlsplit(address).path if "://" in address else address
    path = path.strip("/")
    if path == "$cbs":
        return Address("cbs")
    if path.lower().endswith(MANAGEMENT_SUFFIX.lower()):
        path = path[: -len(MANAGEMENT_SUFFIX)]
        return Address("management", path) if path else None
    if not path or path.startswith("$"):
        return None
    if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()):
        path = path[: -len(DEAD_LETTER_SUFFIX)] + DEAD_LETTER_SUFFIX
    return Address("entity", path)


def check_entity(broker: Broker, address: Address, *, sending: bool | None = None) -> None:
    """Raise AmqpFault(amqp:not-found) when the entity does not exist (and cannot be auto-created), and
    amqp:not-allowed for a receiver on a topic or a sender to a subscription (see :mod:`.pubsub`)."""
    try:
        kind = broker.entity_kind(address.path)
    except QueueError as exc:
        raise fault_from_engine(exc) from exc
    if sending is not None and address.kind == "entity":
        check_link_direction(kind, address.path, sending=sending)
