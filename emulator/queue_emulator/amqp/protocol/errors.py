"""The one exception the AMQP layers raise to report a failure to the peer."""

from __future__ import annotations

from dataclasses import dataclass

from .performatives import Error
from .types import Symbol

__all__ = ["AmqpFault"]


@dataclass(slots=True)
class AmqpFault(Exception):
    """A failure to report to the peer: an AMQP error condition plus the management status code."""

    condition: Symbol
    description: str
    status_code: int = 500

    def __str__(self) -> str:
        return f"{self.condition}: {self.description}"

    def to_error(self) -> Error:
        return Error(condition=self.condition, description=self.description)
