"""The AMQP 1.0 message format: a concatenation of described sections (messaging section 3.2).

Order on the wire: header, delivery-annotations, message-annotations, properties, application-properties,
the body (one or more data sections, one or more amqp-sequence sections, or a single amqp-value) and
footer; every section is optional. Decoding enforces that order and the body rules, with one leniency: a
delivery-annotations section is accepted anywhere (once). The azure-servicebus Python SDK writes it after the body
on purpose, and Service Bus accepts that. Encoding always writes the mandated order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .codec import AmqpDecodeError, decode, encode_into
from .performatives import (
    AmqpSequence,
    AmqpValue,
    ApplicationProperties,
    Data,
    DeliveryAnnotations,
    DescribedType,
    Footer,
    Header,
    MessageAnnotations,
    Properties,
    from_described,
)
from .types import Described

__all__ = ["AmqpMessage", "BodySection"]

BodySection = Data | AmqpSequence | AmqpValue

# Section class -> position in the mandated order; body sections share one position.
_ORDER: dict[type[DescribedType], int] = {
    Header: 0,
    DeliveryAnnotations: 1,
    MessageAnnotations: 2,
    Properties: 3,
    ApplicationProperties: 4,
    Data: 5,
    AmqpSequence: 5,
    AmqpValue: 5,
    Footer: 6,
}


@dataclass(slots=True, kw_only=True)
class AmqpMessage:
    """An annotated AMQP message. Annotation maps are keyed by symbols (or ulongs), application properties
    by strings."""

    header: Header | None = None
    delivery_annotations: dict[Any, Any] | None = None
    message_annotations: dict[Any, Any] | None = None
    properties: Properties | None = None
    application_properties: dict[str, Any] | None = None
    body: list[BodySection] = field(default_factory=list)
    footer: dict[Any, Any] | None = None

    @property
    def data(self) -> list[bytes]:
        """The payloads of the data body sections, in order (empty for other body kinds)."""
        return [section.value for section in self.body if isinstance(section, Data)]

    @property
    def value(self) -> Any:
        """The value of the amqp-value body section, or None when the body is not an amqp-value."""
        for section in self.body:
            if isinstance(section, AmqpValue):
                return section.value
        return None

    def encode(self) -> bytes:
        """The message as transfer payload bytes."""
        sections: list[DescribedType] = []
        if self.header is not None:
            sections.append(self.header)
        if self.delivery_annotations is not None:
            sections.append(DeliveryAnnotations(self.delivery_annotations))
        if self.message_annotations is not None:
            sections.append(MessageAnnotations(self.message_annotations))
        if self.properties is not None:
            sections.append(self.properties)
        if self.application_properties is not None:
            sections.append(ApplicationProperties(self.application_properties))
        sections.extend(self.body)
        if self.footer is not None:
            sections.append(Footer(self.footer))
        out = bytearray()
        for section in sections:
            encode_into(out, section.to_described())
        return bytes(out)

    @classmethod
    def decode(cls, buf: bytes | bytearray | memoryview) -> AmqpMessage:
        """Parse transfer payload bytes; malformed input raises AmqpDecodeError."""
        message = cls()
        offset, end = 0, len(buf)
        last_rank = -1
        seen_delivery_annotations = False
        body_kind: type[DescribedType] | None = None
        while offset < end:
            value, offset = decode(buf, offset)
            if not isinstance(value, Described):
                raise AmqpDecodeError(
                    f"a message section must be a described type, got {type(value).__name__}"
                )
            section = from_described(value)
            rank = _ORDER.get(type(section))
            if rank is None:
                raise AmqpDecodeError(f"{type(section).__name__} is not a message section")
            if isinstance(section, DeliveryAnnotations):
                if seen_delivery_annotations:
                    raise AmqpDecodeError("DeliveryAnnotations section is repeated")
                seen_delivery_annotations = True
                message.delivery_annotations = section.value
                continue
            if rank < last_rank or (rank == last_rank and rank != 5):
                raise AmqpDecodeError(f"{type(section).__name__} section is out of order or repeated")
            last_rank = rank
            if isinstance(section, Data | AmqpSequence | AmqpValue):
                if body_kind is not None and (body_kind is not type(section) or body_kind is AmqpValue):
                    raise AmqpDecodeError("a body is data sections, amqp-sequence sections or one amqp-value")
                body_kind = type(section)
                message.body.append(section)
            elif isinstance(section, Header):
                message.header = section
            elif isinstance(section, MessageAnnotations):
                message.message_annotations = section.value
            elif isinstance(section, Properties):
                message.properties = section
            elif isinstance(section, ApplicationProperties):
                message.application_properties = section.value
            elif isinstance(section, Footer):
                message.footer = section.value
        return message
