"""Value semantics of the SQL language: three-valued logic, comparison, arithmetic and LIKE.

``None`` is SQL's unknown (a missing property or a NULL). Types follow Service Bus (C# operator binding): integers are
Int64, decimals and approximate numbers are doubles, ``int op float`` is a double, integer ``/`` truncates toward zero
and ``%`` takes the dividend's sign, ``+`` on two strings concatenates, ``datetime - datetime`` is a ``timedelta``.
Booleans are not numbers. Comparing values of kinds that do not compare (a string with a number) is unknown, so such
a filter never matches; arithmetic on such values, integer division by zero and Int64 overflow raise
:class:`FilterEvaluationError`.
"""

from __future__ import annotations

import math
import operator
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from .errors import FilterEvaluationError

__all__ = [
    "COMPARISONS",
    "EQUALITY",
    "INT64_MAX",
    "INT64_MIN",
    "LikeMatcher",
    "arithmetic",
    "compare",
    "kind_of",
    "like_matcher",
    "membership_key",
    "negate",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Comparison = Callable[[Any, Any], bool]
COMPARISONS: dict[str, Comparison] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
EQUALITY = frozenset({"=", "<>", "!="})

_KINDS: dict[type, str] = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    datetime: "datetime",
    timedelta: "timespan",
    uuid.UUID: "uuid",
    bytes: "bytes",
}
# Kinds whose values have an order; the others compare only with = and <>.
_ORDERED = frozenset({"number", "string", "datetime", "timespan"})


def kind_of(value: Any) -> str | None:
    """The language's kind of a Python value: number, string, bool, datetime, timespan, uuid, bytes (None: other)."""
    kind = _KINDS.get(type(value))
    if kind is not None:
        return kind
    for cls, name in _KINDS.items():  # subclasses (IntEnum, str enums, ...)
        if isinstance(value, cls):
            return name
    return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def compare(op: str, left: Any, right: Any) -> bool | None:
    """``left op right`` under three-valued logic; unknown for NULL operands or kinds that do not compare."""
    if left is None or right is None:
        return None
    kind = kind_of(left)
    if kind is None or kind != kind_of(right):
        return None
    if kind not in _ORDERED and op not in EQUALITY:
        return None
    if kind == "datetime":
        left, right = _aware(left), _aware(right)
    return COMPARISONS[op](left, right)


def membership_key(value: Any) -> Any:
    """A hashable key under which equal values (by ``=``) are equal and values of other kinds are not."""
    kind = kind_of(value)
    if kind == "number" or kind == "string":
        return value
    if kind == "datetime":
        return ("datetime", _aware(value))
    return (kind, value)


def _checked(value: int) -> int:
    if value < INT64_MIN or value > INT64_MAX:
        raise FilterEvaluationError("integer overflow (the result is outside Int64)")
    return value


def _int_div(left: int, right: int) -> int:
    if right == 0:
        raise FilterEvaluationError("integer division by zero")
    quotient = abs(left) // abs(right)
    return _checked(quotient if (left >= 0) == (right >= 0) else -quotient)


def _int_mod(left: int, right: int) -> int:
    if right == 0:
        raise FilterEvaluationError("integer division by zero")
    remainder = abs(left) % abs(right)
    return remainder if left >= 0 else -remainder


def _float_div(left: float, right: float) -> float:
    if right == 0:
        if left == 0 or math.isnan(left):
            return math.nan
        return math.copysign(math.inf, left) * math.copysign(1.0, right)
    return left / right


def _float_mod(left: float, right: float) -> float:
    if right == 0 or math.isinf(left):
        return math.nan
    return math.fmod(left, right)


def _mismatch(op: str, left: Any, right: Any) -> FilterEvaluationError:
    return FilterEvaluationError(
        f"operator '{op}' cannot be applied to {kind_of(left) or type(left).__name__} and "
        f"{kind_of(right) or type(right).__name__}"
    )


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """``left op right`` for + - * / %; unknown when an operand is NULL."""
    if left is None or right is None:
        return None
    lt, rt = type(left), type(right)
    if (lt is float or lt is int) and (rt is float or rt is int):  # the common case, without kind lookups
        if lt is int and rt is int:
            if op == "+":
                return _checked(left + right)
            if op == "-":
                return _checked(left - right)
            if op == "*":
                return _checked(left * right)
            return _int_div(left, right) if op == "/" else _int_mod(left, right)
        if op == "+":
            return float(left + right)
        if op == "-":
            return float(left - right)
        if op == "*":
            return float(left * right)
        return _float_div(float(left), float(right)) if op == "/" else _float_mod(float(left), float(right))
    lk, rk = kind_of(left), kind_of(right)
    if lk == "number" and rk == "number":
        if not isinstance(left, float) and not isinstance(right, float):
            a, b = int(left), int(right)
            if op == "+":
                return _checked(a + b)
            if op == "-":
                return _checked(a - b)
            if op == "*":
                return _checked(a * b)
            if op == "/":
                return _int_div(a, b)
            return _int_mod(a, b)
        x, y = float(left), float(right)
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return _float_div(x, y)
        return _float_mod(x, y)
    if op == "+":
        if lk == "string" and rk == "string":
            return str(left) + str(right)
        if lk == "datetime" and rk == "timespan":
            return left + right
        if lk == "timespan" and rk == "datetime":
            return right + left
        if lk == "timespan" and rk == "timespan":
            return left + right
    if op == "-":
        if lk == "datetime" and rk == "datetime":
            return _aware(left) - _aware(right)
        if lk == "datetime" and rk == "timespan":
            return left - right
        if lk == "timespan" and rk == "timespan":
            return left - right
    raise _mismatch(op, left, right)


def negate(op: str, value: Any) -> Any:
    """Unary ``-`` or ``+``; unknown stays unknown."""
    if value is None:
        return None
    kind = kind_of(value)
    if kind == "number":
        if op == "+":
            return value
        return -value if isinstance(value, float) else _checked(-int(value))
    if kind == "timespan":
        return value if op == "+" else -value
    raise FilterEvaluationError(f"unary '{op}' cannot be applied to {kind or type(value).__name__}")


class LikeMatcher:
    """A LIKE pattern compiled once: a plain string test for the common shapes, else an anchored regex."""

    __slots__ = ("match", "pattern")

    def __init__(self, pattern: str, escape: str | None) -> None:
        self.pattern = pattern
        parts: list[tuple[bool, str]] = []  # (is_wildcard, text)
        index = 0
        while index < len(pattern):
            char = pattern[index]
            if escape is not None and char == escape:
                index += 1
                if index == len(pattern):
                    raise ValueError("the pattern ends with the escape character")
                parts.append((False, pattern[index]))
            elif char in "%_":
                parts.append((True, char))
            else:
                parts.append((False, char))
            index += 1
        self.match: Callable[[str], bool] = self._build(parts)

    @staticmethod
    def _build(parts: list[tuple[bool, str]]) -> Callable[[str], bool]:
        wild = [text for is_wild, text in parts if is_wild]
        literal = "".join(text for is_wild, text in parts if not is_wild)
        if not wild:
            return literal.__eq__
        if all(w == "%" for w in wild):
            shape = "".join("%" if is_wild else "x" for is_wild, _ in parts)
            stripped = shape.strip("%")
            if "%" not in stripped:  # only leading and/or trailing %
                starts, ends = shape.startswith("%"), shape.endswith("%")
                if starts and ends:
                    return lambda value: literal in value
                if ends:
                    return lambda value: value.startswith(literal)
                if starts:
                    return lambda value: value.endswith(literal)
        regex = "".join((".*" if text == "%" else ".") if is_wild else re.escape(text) for is_wild, text in parts)
        fullmatch = re.compile(regex, re.DOTALL).fullmatch
        return lambda value: fullmatch(value) is not None


@lru_cache(maxsize=256)
def like_matcher(pattern: str, escape: str | None) -> LikeMatcher:
    """A cached :class:`LikeMatcher`, for patterns known only when a message is evaluated."""
    return LikeMatcher(pattern, escape)
