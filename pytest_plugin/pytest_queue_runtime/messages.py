"""Realistic messages for tests, made with faker: webhook-like JSON events, attributes, session ids and
bodies of an exact size. Seeded per test, so a failing test sees the same data when it runs again."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from queue_runtime import Message, SessionId

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["QueueMessageFactory"]

_EVENT_TYPES = (
    "order.created",
    "order.paid",
    "order.shipped",
    "invoice.finalized",
    "customer.updated",
    "payment.failed",
    "subscription.renewed",
)


class QueueMessageFactory:
    """Build :class:`queue_runtime.Message` objects with plausible content."""

    faker: Faker

    def __init__(self, seed: int | str = 0, locale: str = "en_US") -> None:
        from faker import Faker  # the 'pytest' extra; imported here so the plugin loads without it

        self.faker = Faker(locale)
        numeric = seed if isinstance(seed, int) else zlib.crc32(seed.encode())
        self.faker.seed_instance(numeric)

    def session_id(self) -> str:
        return f"sess-{self.faker.uuid4()[:12]}"

    def attributes(self, count: int = 3) -> dict[str, str]:
        """Attribute names and values as applications send them (tenant, trace, source...)."""
        candidates = {
            "tenant": self.faker.slug(),
            "source": self.faker.domain_name(),
            "trace-id": self.faker.hexify("^" * 32),
            "priority": self.faker.random_element(("low", "normal", "high")),
            "schema.version": f"{self.faker.random_int(1, 3)}.{self.faker.random_int(0, 9)}",
            "region": self.faker.random_element(("eu-west-1", "us-east-1", "ap-south-1")),
        }
        return dict(list(candidates.items())[: max(0, min(count, len(candidates)))])

    def event_payload(self, event_type: str | None = None) -> dict[str, Any]:
        """A webhook event body: id, type, creation time and a data object about an order and its customer."""
        kind = event_type or self.faker.random_element(_EVENT_TYPES)
        return {
            "id": f"evt_{self.faker.hexify('^' * 24)}",
            "type": kind,
            "created": self.faker.date_time_between("-30d", "now", tzinfo=UTC).isoformat(),
            "livemode": False,
            "data": {
                "object": {
                    "id": f"ord_{self.faker.hexify('^' * 16)}",
                    "amount": self.faker.random_int(100, 500_000),
                    "currency": self.faker.currency_code(),
                    "customer": {
                        "name": self.faker.name(),
                        "email": self.faker.email(),
                        "address": self.faker.address().replace("\n", ", "),
                    },
                    "items": [
                        {"sku": self.faker.ean8(), "quantity": self.faker.random_int(1, 5)}
                        for _ in range(self.faker.random_int(1, 4))
                    ],
                }
            },
        }

    def webhook_event(
        self,
        event_type: str | None = None,
        *,
        session_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Message:
        """A JSON webhook event message with its type and a few attributes."""
        payload = self.event_payload(event_type)
        attrs = {"event-type": payload["type"], **self.attributes(2), **(attributes or {})}
        return Message(
            json.dumps(payload, separators=(",", ":")).encode(),
            attributes=attrs,
            session_id=SessionId(session_id) if session_id is not None else None,
            correlation_id=fields.pop("correlation_id", payload["id"]),
            content_type="application/json",
            **fields,
        )

    def body(self, size: int) -> bytes:
        """Exactly ``size`` bytes of printable text."""
        if size < 0:
            raise ValueError("size must be >= 0")
        chunk = self.faker.paragraph(nb_sentences=8).encode()
        return (chunk * (size // max(len(chunk), 1) + 1))[:size]

    def message(
        self,
        body: bytes | str | None = None,
        *,
        size: int | None = None,
        session_id: str | None = None,
        attributes: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Message:
        """A message with the given body, or a body of ``size`` bytes, or a short sentence."""
        if body is None:
            body = self.body(size) if size is not None else self.faker.sentence().encode()
        data = body.encode() if isinstance(body, str) else body
        sid = SessionId(session_id) if session_id is not None else None
        return Message(data, attributes=dict(attributes or {}), session_id=sid, **fields)

    def batch(self, count: int, *, session_id: str | None = None, **fields: Any) -> list[Message]:
        """``count`` webhook events, numbered in the ``seq`` attribute (0-based) to check order."""
        return [
            self.webhook_event(session_id=session_id, attributes={"seq": str(i)}, **fields)
            for i in range(count)
        ]

    def now(self) -> datetime:
        return datetime.now(UTC)
