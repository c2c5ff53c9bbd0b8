"""Errors of the SQL filter and rule-action language.

``InvalidFilterError`` is raised when an expression is compiled (a rule is created): the text is malformed, names an
unknown system property or function, or uses a parameter it was not given. It carries the 1-based ``line`` and
``column`` of the offending spot and a ``reason``. ``FilterEvaluationError`` is raised while a compiled filter or
action runs against one message, in the cases Service Bus reports a filter evaluation exception (integer division by
zero, arithmetic on values of the wrong type, assigning a wrong type to a system property); the engine dead-letters
the copy when the subscription has ``dead_lettering_on_filter_evaluation_exceptions``.
"""

from __future__ import annotations

from typing import Any

from queue_runtime.errors import QueueError, ValidationError

__all__ = ["FilterEvaluationError", "InvalidFilterError"]


class InvalidFilterError(ValidationError):
    """A SQL filter or action expression that cannot be compiled, with where and why."""

    code = "invalid_filter"

    def __init__(
        self, expression: str, reason: str, *, line: int | None = None, column: int | None = None, kind: str = "filter"
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None and column is not None else ""
        super().__init__(
            f"sql {kind}",
            f"{reason}{where}",
            details={"expression": expression, "reason": reason, "line": line, "column": column, "kind": kind},
        )
        self.expression = expression
        self.reason = reason
        self.line = line
        self.column = column
        self.kind = kind


class FilterEvaluationError(QueueError):
    """A compiled filter or action failed on one message (Service Bus's filter evaluation exception)."""

    code = "filter_evaluation_error"

    def __init__(self, reason: str, *, expression: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"filter evaluation failed: {reason}",
            details={"reason": reason, "expression": expression, **(details or {})},
        )
        self.reason = reason
        self.expression = expression
