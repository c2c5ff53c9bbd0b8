"""The SQL filter language (docs/filters.md), operator by operator, against Service Bus's documented rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lark
import pytest

from queue_runtime.broker.sql import (
    CompiledFilter,
    FilterEvaluationError,
    InvalidFilterError,
    compile_filter,
)
from queue_runtime.errors import QueueError, ValidationError

ROOT = Path(__file__).resolve().parents[2]
T, F, U = True, False, None


def evaluate(
    expression: str, user: dict[str, Any] | None = None, system: dict[str, Any] | None = None, **parameters: Any
) -> bool | None:
    compiled = compile_filter(expression, parameters={f"@{k}": v for k, v in parameters.items()} or None)
    return compiled.evaluate(system or {}, user or {})


# --- the interface the engine codes against ------------------------------------------------------------------------


def test_interface_keeps_the_text_and_answers_a_plain_bool() -> None:
    text = "sys.Label = 'order' AND quantity > @min"
    compiled = compile_filter(text, parameters={"@min": 5})
    assert isinstance(compiled, CompiledFilter)
    assert compiled.expression == text
    assert compiled.matches({"label": "order"}, {"quantity": 6}) is True
    assert compiled.matches({"label": "order"}, {"quantity": 5}) is False
    assert compiled.matches({"label": "order"}, {}) is False  # unknown is not a match
    assert compiled.evaluate({"label": "order"}, {}) is None
    assert compiled.evaluate({"label": "other"}, {}) is False


def test_errors_are_typed_queue_errors_with_stable_codes() -> None:
    with pytest.raises(InvalidFilterError) as caught:
        compile_filter("a = ")
    assert isinstance(caught.value, ValidationError) and isinstance(caught.value, QueueError)
    assert caught.value.code == "invalid_filter"
    assert caught.value.details["expression"] == "a = "
    assert (caught.value.line, caught.value.column) == (1, 5)
    with pytest.raises(FilterEvaluationError) as failed:
        compile_filter("a / 0 = 1").matches({}, {"a": 1})
    assert isinstance(failed.value, QueueError) and failed.value.code == "filter_evaluation_error"
    assert failed.value.expression == "a / 0 = 1"


def test_evaluation_never_reads_the_text_or_the_tree_again(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_filter("color IN ('red', 'blue') AND (size > 3 OR sys.Label LIKE 'o%')")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed at evaluation time")

    monkeypatch.setattr(lark.Lark, "parse", refuse)
    monkeypatch.setattr(lark.Lark, "__init__", refuse)
    assert compiled.matches({"label": "order"}, {"color": "red"})
    assert not compiled.matches({"label": "x"}, {"color": "red", "size": 2})


class Hostile(str):
    """A string value whose comparison fails: stands for any failure the language does not foresee."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")


def test_unforeseen_failures_become_filter_evaluation_errors() -> None:
    with pytest.raises(FilterEvaluationError, match="RuntimeError: boom") as caught:
        compile_filter("s = 'x'").matches({}, {"s": Hostile("x")})
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert caught.value.expression == "s = 'x'"


def test_more_service_bus_system_properties_read_as_null_unless_supplied() -> None:
    assert evaluate("sys.PartitionKey IS NULL AND sys.ExpiresAtUtc IS NULL AND sys.DeadLetterSource IS NULL") is T
    assert evaluate("sys.PartitionKey = 'p'", system={"partitionkey": "p"}) is T
    assert evaluate("sys.TimeToLive = @t", system={"timetolive": timedelta(seconds=5)}, t=timedelta(seconds=5)) is T


# --- comparison ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a = 1", {"a": 1}, T),
        ("a = 1", {"a": 2}, F),
        ("a <> 1", {"a": 2}, T),
        ("a != 1", {"a": 1}, F),
        ("a > 1", {"a": 2}, T),
        ("a >= 2", {"a": 2}, T),
        ("a < 2", {"a": 2}, F),
        ("a <= 2", {"a": 2}, T),
        ("1 < a", {"a": 2}, T),  # constant on the left
        ("3 <= a", {"a": 2}, F),
        ("a = 1.0", {"a": 1}, T),  # Int64 and double compare as numbers
        ("a > 1.5", {"a": 2}, T),
        ("a = 'x'", {"a": "x"}, T),
        ("a = 'x'", {"a": "X"}, F),  # string comparison is ordinal (case-sensitive)
        ("a < 'b'", {"a": "a"}, T),
        ("a = b", {"a": 3, "b": 3}, T),
        ("a = b", {"a": 3}, U),
        ("a = 1", {}, U),  # missing property: unknown
        ("a <> 1", {}, U),
        ("a = 1", {"a": None}, U),  # NULL value: unknown
        ("a = NULL", {"a": 1}, U),
        ("NULL = NULL", {}, U),
        ("a = 10", {"a": "10"}, U),  # a string never equals a number
        ("a > 10", {"a": "11"}, U),
        ("a = TRUE", {"a": True}, T),
        ("a = FALSE", {"a": True}, F),
        ("a = 1", {"a": True}, U),  # booleans are not numbers
        ("a > FALSE", {"a": True}, U),  # booleans have no order
        ("1 = 1", {}, T),
        ("1 = 2", {}, F),
    ],
)
def test_comparison(expression: str, user: dict[str, Any], expected: bool | None) -> None:
    assert evaluate(expression, user) is expected


def test_comparison_of_datetimes_timespans_uuids_and_bytes() -> None:
    when = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert evaluate("t < @p", {"t": when}, p=when + timedelta(seconds=1)) is T
    assert evaluate("t = @p", {"t": when.replace(tzinfo=None)}, p=when) is T  # naive is UTC
    assert evaluate("t2 - t1 <= @span", {"t1": when, "t2": when + timedelta(minutes=5)}, span=timedelta(minutes=5)) is T
    ident = uuid.uuid4()
    assert evaluate("id = @id", {"id": ident}, id=ident) is T
    assert evaluate("id > @id", {"id": ident}, id=ident) is U  # uuids have no order
    assert evaluate("b = @b", {"b": b"\x01"}, b=b"\x01") is T


# --- logic (the truth tables of the Service Bus documentation) -----------------------------------------------------

VALUES = {T: "t = 1", F: "f = 1", U: "missing = 1"}
MESSAGE = {"t": 1, "f": 0}
AND_TABLE = {(T, T): T, (T, F): F, (T, U): U, (F, T): F, (F, F): F, (F, U): F, (U, T): U, (U, F): F, (U, U): U}
OR_TABLE = {(T, T): T, (T, F): T, (T, U): T, (F, T): T, (F, F): F, (F, U): U, (U, T): T, (U, F): U, (U, U): U}


@pytest.mark.parametrize(("left", "right"), list(AND_TABLE))
def test_and_or_truth_tables(left: bool | None, right: bool | None) -> None:
    assert evaluate(f"{VALUES[left]} AND {VALUES[right]}", MESSAGE) is AND_TABLE[(left, right)]
    assert evaluate(f"{VALUES[left]} OR {VALUES[right]}", MESSAGE) is OR_TABLE[(left, right)]


@pytest.mark.parametrize(("value", "expected"), [(T, F), (F, T), (U, U)])
def test_not(value: bool | None, expected: bool | None) -> None:
    assert evaluate(f"NOT {VALUES[value]}", MESSAGE) is expected
    assert evaluate(f"NOT ({VALUES[value]})", MESSAGE) is expected


def test_false_and_skips_the_right_side_but_unknown_does_not() -> None:
    assert evaluate("f = 1 AND a / 0 = 1", {"f": 0, "a": 1}) is F  # short-circuit: no division
    assert evaluate("t = 1 OR a / 0 = 1", {"t": 1, "a": 1}) is T
    with pytest.raises(FilterEvaluationError):
        evaluate("missing = 1 AND a / 0 = 1", {"a": 1})


def test_true_and_false_literals_are_conditions() -> None:
    assert evaluate("TRUE") is T
    assert evaluate("FALSE OR a = 1", {"a": 1}) is T
    assert compile_filter("1=1").matches({}, {})  # what TrueFilter means on Service Bus


# --- precedence and associativity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("a = 1 OR b = 1 AND c = 1", {"a": 1, "b": 0, "c": 0}, T),  # AND binds tighter than OR
        ("(a = 1 OR b = 1) AND c = 1", {"a": 1, "b": 0, "c": 0}, F),
        ("NOT a = 1 AND b = 1", {"a": 0, "b": 1}, T),  # NOT binds tighter than AND
        ("NOT (a = 1 AND b = 1)", {"a": 1, "b": 0}, T),
        ("2 + 3 * 4 = 14", {}, T),
        ("(2 + 3) * 4 = 20", {}, T),
        ("10 - 2 - 3 = 5", {}, T),  # left-associative
        ("16 / 4 / 2 = 2", {}, T),
        ("-2 * 3 = -6", {}, T),
        ("- -2 = 2", {}, T),
        ("+a = 2", {"a": 2}, T),
        ("7 % 4 * 2 = 6", {}, T),
        ("a + 1 > 2 AND a - 1 < 2", {"a": 2}, T),
        ("NOT NOT a = 1", {"a": 1}, T),
    ],
)
def test_precedence(expression: str, user: dict[str, Any], expected: bool | None) -> None:
    assert evaluate(expression, user) is expected


# --- arithmetic (C# operator binding) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("7 / 2 = 3", T),  # Int64 division truncates
        ("-7 / 2 = -3", T),  # ... toward zero
        ("7 / -2 = -3", T),
        ("-7 % 2 = -1", T),  # the remainder takes the dividend's sign
        ("7 % -2 = 1", T),
        ("7 / 2.0 = 3.5", T),  # a double operand makes a double
        ("7.5 % 2 = 1.5", T),
        ("1.5E2 = 150", T),
        ("0.5E-2 = 0.005", T),
        (".5 = 0.5", T),
        ("2. = 2", T),
        ("9223372036854775807 > 0", T),
        ("'ab' + 'cd' = 'abcd'", T),
        ("1.0 / 0 > 1E308", T),  # double division by zero is infinity, not an error
    ],
)
def test_arithmetic(expression: str, expected: bool | None) -> None:
    assert evaluate(expression) is expected


def test_arithmetic_with_unknown_is_unknown() -> None:
    assert evaluate("a + 1 = 2", {}) is U
    assert evaluate("-a = 2", {}) is U
    assert evaluate("a * NULL = 2", {"a": 1}) is U


@pytest.mark.parametrize(
    ("expression", "user", "reason"),
    [
        ("a / 0 = 1", {"a": 1}, "division by zero"),
        ("a % 0 = 1", {"a": 1}, "division by zero"),
        ("a + 1 = 1", {"a": "x"}, "cannot be applied"),
        ("a - 'x' = 1", {"a": "y"}, "cannot be applied"),
        ("a * 2 = 1", {"a": True}, "cannot be applied"),
        ("-a = 1", {"a": "x"}, "cannot be applied"),
        ("a * 2 > 0", {"a": 2**62}, "overflow"),
    ],
)
def test_arithmetic_failures_are_filter_evaluation_errors(expression: str, user: dict[str, Any], reason: str) -> None:
    compiled = compile_filter(expression)
    with pytest.raises(FilterEvaluationError, match=reason):
        compiled.matches({}, user)


def test_constant_failures_wait_for_evaluation_time() -> None:
    compiled = compile_filter("1 / 0 = 1")  # accepted when the rule is created, as Service Bus does
    with pytest.raises(FilterEvaluationError, match="division by zero"):
        compiled.matches({}, {})


def test_datetime_arithmetic() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert evaluate("t + @d = @later", {"t": when}, d=timedelta(hours=1), later=when + timedelta(hours=1)) is T
    assert evaluate("t - @d < t", {"t": when}, d=timedelta(hours=1)) is T


# --- IN ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "user", "expected"),
    [
        ("s IN ('a', 'b')", {"s": "b"}, T),
        ("s IN ('a', 'b')", {"s": "c"}, F),
        ("s NOT IN ('a', 'b')", {"s": "c"}, T),
        ("s NOT IN ('a', 'b')", {"s": "a"}, F),
        ("s IN ('a')", {}, U),  # unknown left: unknown
        ("s NOT IN ('a')", {}, U),
        ("n IN (1, 2, 3)", {"n": 2.0}, T),
        ("n IN (1, 2, 3)", {"n": "2"}, F),
        ("n IN (1, 2, 3)", {"n": True}, F),  # TRUE is not 1
        ("b IN (TRUE)", {"b": True}, T),
        ("n IN (m, m + 1)", {"n": 5, "m": 4}, T),  # items may be expressions
        ("n IN (m, 7)", {"n": 5}, F),
        ("n in (1,2)", {"n": 1}, T),
        ("sys.To IN ('Store5','Store6','Store7') OR StoreId = 'Store8'", {"storeid": "Store8"}, T),
    ],
)
def test_in(expression: str, user: dict[str, Any], expected: bool | None) -> None:
    assert evaluate(expression, user) is expected


# --- LIKE ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("'%bus%'", "servicebus rocks", T),
        ("'%bus%'", "queue", F),
        ("'abc%'", "abcdef", T),
        ("'abc%'", "xabc", F),
        ("'%def'", "abcdef", T),
        ("'a_c'", "abc", T),
        ("'a_c'", "abbc", F),
        ("'a%c'", "ac", T),
        ("'a%c'", "a\nc", T),  # % spans newlines
        ("'abc'", "abc", T),
        ("'abc'", "ABC", F),  # case-sensitive
        ("'%'", "", T),
        ("'_'", "", F),
        ("'a.c'", "abc", F),  # regex characters are literal
        ("'[ab]'", "a", F),
    ],
)
def test_like(pattern: str, value: str, expected: bool | None) -> None:
    assert evaluate(f"s LIKE {pattern}", {"s": value}) is expected
    assert evaluate(f"s NOT LIKE {pattern}", {"s": value}) is (not expected)


def test_like_escape() -> None:
    assert evaluate("s LIKE 'ABC\\%' ESCAPE '\\'", {"s": "ABC%"}) is T  # the documentation's example
    assert evaluate("s LIKE 'ABC\\%' ESCAPE '\\'", {"s": "ABCD"}) is F
    assert evaluate("s LIKE '!_x' ESCAPE '!'", {"s": "_x"}) is T
    assert evaluate("s LIKE '!_x' ESCAPE '!'", {"s": "ax"}) is F
    assert evaluate("s LIKE 'a!!b' ESCAPE '!'", {"s": "a!b"}) is T


def test_like_with_unknown_or_non_string_operands() -> None:
    assert evaluate("s LIKE 'a%'", {}) is U
    assert evaluate("s NOT LIKE 'a%'", {}) is U
    assert evaluate("s LIKE 'a%'", {"s": 5}) is U
    assert evaluate("s LIKE p", {"s": "abc"}) is U  # pattern from a missing property
    assert evaluate("s LIKE p", {"s": "abc", "p": "a%"}) is T  # pattern from a property
    assert evaluate("s LIKE p ESCAPE e", {"s": "a%", "p": "a!%", "e": "!"}) is T
    with pytest.raises(FilterEvaluationError, match="pattern must be a string"):
        evaluate("s LIKE p", {"s": "abc", "p": 5})
    with pytest.raises(FilterEvaluationError, match="length 1"):
        evaluate("s LIKE p ESCAPE e", {"s": "abc", "p": "a", "e": "!!"})


# --- IS NULL, EXISTS -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "is_null", "exists"),
    [({}, T, F), ({"a": None}, T, T), ({"a": 0}, F, T), ({"A": ""}, F, T)],
)
def test_is_null_and_exists(user: dict[str, Any], is_null: bool, exists: bool) -> None:
    assert evaluate("a IS NULL", user) is is_null
    assert evaluate("a IS NOT NULL", user) is (not is_null)
    assert evaluate("EXISTS(a)", user) is exists
    assert evaluate("NOT EXISTS (user.a)", user) is (not exists)


def test_system_properties_exist_when_set() -> None:
    assert evaluate("EXISTS(sys.ReplyTo)", system={"replyto": "x"}) is T
    assert evaluate("EXISTS(sys.ReplyTo)", system={"replyto": None}) is F
    assert evaluate("sys.ReplyTo IS NULL", system={}) is T


# --- literals, names, parameters -----------------------------------------------------------------------------------


def test_string_literals_double_their_quotes() -> None:
    assert evaluate("s = 'it''s'", {"s": "it's"}) is T
    assert evaluate("s = ''", {"s": ""}) is T
    assert evaluate("s = 'üñï ✓'", {"s": "üñï ✓"}) is T


def test_keywords_and_names_are_case_insensitive() -> None:
    assert evaluate("color = 'red' and NOT Size > 3 Or 1 = 0", {"Color": "red", "SIZE": 2}) is T
    assert evaluate("s like 'a%' escape '!'", {"s": "ab"}) is T
    assert evaluate("a is not null", {"a": 1}) is T
    assert evaluate("USER.Color = 'red'", {"color": "red"}) is T
    assert evaluate("Sys.LABEL = 'x'", system={"label": "x"}) is T
    assert evaluate("a = true", {"a": True}) is T


def test_exact_name_wins_over_a_case_insensitive_one() -> None:
    assert evaluate("a = 1", {"A": 2, "a": 1}) is T


def test_delimited_and_quoted_identifiers() -> None:
    assert evaluate("[Property With Space] = 1", {"Property With Space": 1}) is T
    assert evaluate("[HR-EmployeeID] = 'x'", {"HR-EmployeeID": "x"}) is T
    assert evaluate("[a]]b] = 1", {"a]b": 1}) is T
    assert evaluate('"Contoso & Northwind" = 1', {"Contoso & Northwind": 1}) is T
    assert evaluate('"a""b" = 1', {'a"b': 1}) is T
    assert (
        evaluate(
            "\"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName\" = 'account'",
            {"http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName": "account"},
        )
        is T
    )
    assert evaluate("user.[my prop] = 1", {"my prop": 1}) is T
    assert evaluate("[AND] = 1", {"and": 1}) is T  # a keyword, bracketed, is a name


def test_keywords_used_only_as_names_stay_names() -> None:
    assert evaluate("android = 1 AND notes = 2 AND island = 3", {"android": 1, "notes": 2, "island": 3}) is T
    assert evaluate("set = 1 AND remove = 2", {"set": 1, "remove": 2}) is T
    assert evaluate("unicodé_名前2 = 1", {"unicodé_名前2": 1}) is T


def test_parameters() -> None:
    assert evaluate("a = @x", {"a": "v"}, x="v") is T
    assert compile_filter("a = @X", parameters={"@x": 1}).matches({}, {"a": 1})  # names are case-insensitive
    assert compile_filter("a = @x", parameters={"x": 1}).matches({}, {"a": 1})  # the @ may be left out
    assert compile_filter("a IN (@p, @q)", parameters={"@p": 1, "@q": 2}).matches({}, {"a": 2})
    assert compile_filter("a = @n", parameters={"@n": None}).evaluate({}, {"a": 1}) is None
    assert compile_filter("a = 1", parameters={"@unused": 1}).matches({}, {"a": 1})


def test_parameters_must_be_given_and_of_a_known_type() -> None:
    with pytest.raises(InvalidFilterError, match="'@missing' is not given") as caught:
        compile_filter("a = 1 OR b = @missing")
    assert (caught.value.line, caught.value.column) == (1, 14)
    with pytest.raises(InvalidFilterError, match="unsupported type list"):
        compile_filter("a = @x", parameters={"@x": [1]})


# --- system properties ---------------------------------------------------------------------------------------------

SYSTEM = {
    "messageid": "m-1",
    "correlationid": "c-1",
    "to": "store5",
    "replyto": "back",
    "label": "order",
    "sessionid": "s-1",
    "replytosessionid": "rs-1",
    "contenttype": "application/json",
    "timetolive": 60.0,
    "scheduledenqueuetimeutc": None,
    "enqueuedtimeutc": datetime(2026, 1, 1, tzinfo=UTC),
    "sequencenumber": 42,
    "deliverycount": 0,
    "size": 128,
}


@pytest.mark.parametrize(
    "expression",
    [
        "sys.MessageId = 'm-1'",
        "sys.messageid = 'm-1'",
        "sys.CorrelationId LIKE 'c-%'",
        "sys.To = 'store5'",
        "sys.ReplyTo = 'back'",
        "sys.Label = 'order'",
        "sys.Subject = 'order'",  # the new SDKs' name for Label
        "sys.SessionId = 's-1'",
        "sys.ReplyToSessionId = 'rs-1'",
        "sys.ContentType = 'application/json'",
        "sys.TimeToLive = @minute",
        "sys.ScheduledEnqueueTimeUtc IS NULL",
        "sys.EnqueuedTimeUtc < @later",
        "sys.SequenceNumber = 42",
        "sys.DeliveryCount = 0",
        "sys.Size > 100",
    ],
)
def test_every_system_property(expression: str) -> None:
    compiled = compile_filter(
        expression, parameters={"@minute": timedelta(seconds=60), "@later": datetime(2027, 1, 1, tzinfo=UTC)}
    )
    assert compiled.evaluate(SYSTEM, {}) is True


def test_system_and_user_scopes_are_separate() -> None:
    assert evaluate("sys.Label = 'x'", {"label": "x"}, {"label": "y"}) is F
    assert evaluate("label = 'x'", {"label": "x"}, {"label": "y"}) is T
    assert evaluate("user.label = 'x'", {"label": "x"}, {"label": "y"}) is T


# --- functions -----------------------------------------------------------------------------------------------------


def test_functions() -> None:
    assert evaluate("property('color') = 'red'", {"Color": "red"}) is T
    assert evaluate("p('sys.Label') = 'x'", system={"label": "x"}) is T
    assert evaluate("p(name) = 1", {"name": "target", "target": 1}) is T
    assert evaluate("p(name) = 1", {}) is U
    compiled = compile_filter("newid() <> newid() AND newid() IS NOT NULL")
    assert compiled.matches({}, {})
    with pytest.raises(FilterEvaluationError, match="unknown system property"):
        evaluate("p(name) = 1", {"name": "sys.Nope"})


# --- refused at compile time, with a position ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "line", "column", "reason"),
    [
        ("", 1, 1, "empty"),
        ("   ", 1, 4, "empty"),
        ("a =", 1, 4, "unexpected end"),
        ("a == 1", 1, 4, "unexpected '='"),
        ("a = 1 AND", 1, 10, "unexpected end"),
        ("a = 1 b = 2", 1, 7, "unexpected 'b'"),
        ("a = 'open", 1, 5, "unexpected character"),
        ("a = 1\n  AND b ~ 2", 2, 9, "unexpected character '~'"),
        ("(a = 1", 1, 7, "unexpected end"),
        ("a IN ()", 1, 7, "unexpected ')'"),
        ("a = b = c", 1, 7, "unexpected '='"),
        ("sys.Nope = 1", 1, 1, "unknown system property 'sys.Nope'"),
        ("other.x = 1", 1, 1, "unknown scope 'other'"),
        ("a = @p", 1, 5, "'@p' is not given"),
        ("foo(1) = 1", 1, 1, "unknown function 'foo'"),
        ("newid(1) = 1", 1, 1, "takes no arguments"),
        ("p() = 1", 1, 1, "takes one argument"),
        ("p(1) = 1", 1, 1, "takes a string"),
        ("p('sys.Nope') = 1", 1, 1, "unknown system property"),
        ("a", 1, 1, "expected a condition"),
        ("a + 1", 1, 1, "expected a condition"),
        ("NOT a", 1, 5, "expected a condition"),
        ("a = 1 AND 'x'", 1, 11, "expected a condition"),
        ("(a = 1) + 1 = 2", 1, 2, "expected a value"),
        ("a = (b = 1)", 1, 6, "expected a value"),
        ("a LIKE 5", 1, 8, "pattern must be a string"),
        ("a LIKE 'x!' ESCAPE '!'", 1, 8, "ends with the escape character"),
        ("a LIKE 'x' ESCAPE '!!'", 1, 19, "length 1"),
        ("a = 9223372036854775808", 1, 5, "outside the range of Int64"),
        ("a = 1E999", 1, 5, "outside the range of a double"),
        ("[] = 1", 1, 1, "cannot be empty"),
    ],
)
def test_malformed_expressions_are_refused_with_position(expression: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        compile_filter(expression)
    error = caught.value
    assert reason in error.reason, error.reason
    assert (error.line, error.column) == (line, column), error.message
    assert f"line {line}, column {column}" in error.message


def test_a_non_string_expression_is_refused() -> None:
    with pytest.raises(InvalidFilterError, match="must be a string"):
        compile_filter(5)  # type: ignore[arg-type]


def test_deep_nesting_is_refused_when_compiling_never_when_evaluating() -> None:
    for deep in ["NOT " * 1000 + "a = 1", "-" * 1000 + "a = 1", "(a + " * 1000 + "1" + ")" * 1000 + " = 1"]:
        with pytest.raises(InvalidFilterError, match="nests too deeply"):
            compile_filter(deep)


def test_moderate_nesting_and_any_number_of_parentheses_compile() -> None:
    assert evaluate("NOT " * 100 + "a = 1", {"a": 1}) is T
    assert evaluate(" AND ".join(["a = 1"] * 5000), {"a": 1}) is T  # chains run in a loop
    assert evaluate(" OR ".join(["a = 2"] * 5000), {"a": 1}) is F
    assert evaluate(" + ".join(["a"] * 5000) + " = 5000", {"a": 1}) is T
    assert evaluate("(" * 5000 + "a = 1" + ")" * 5000, {"a": 1}) is T


# --- the documented examples of Service Bus ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "system", "user", "expected"),
    [
        ("sys.label LIKE '%bus%'", {"label": "servicebus"}, {}, T),
        ("sys.messageid = 'xxxx'", {"messageid": "xxxx"}, {}, T),
        ("sys.correlationid like 'abc-%'", {"correlationid": "abc-1"}, {}, T),
        ("MessageProperty = 'A'", {}, {"MessageProperty": "A"}, T),
        ("user.SuperHero like 'SuperMan%'", {}, {"SuperHero": "SuperManX"}, T),
        ("MessageProperty > 2.08", {}, {"MessageProperty": 3}, T),
        ("MessageProperty = 1 AND MessageProperty2 = 3", {}, {"MessageProperty": 1, "MessageProperty2": 3}, T),
        ("MessageProperty = 1 OR MessageProperty2 = 3", {}, {"MessageProperty2": 3}, T),
        ("StoreId IN('Store1', 'Store2', 'Store3')", {}, {"StoreId": "Store2"}, T),
        (
            "sys.To NOT IN ('Store1','Store2','Store3','Store4','Store5','Store6','Store7','Store8') OR StoreId NOT IN "
            "('Store1','Store2','Store3','Store4','Store5','Store6','Store7','Store8')",
            {"to": "Store9"},
            {"StoreId": "Store1"},
            T,
        ),
        ("color='blue' AND quantity=10", {}, {"color": "blue", "quantity": 10}, T),
        (
            "sys.CorrelationId = 'email' AND sender = 'joseph' AND (importance IS NULL OR importance = 'high')",
            {"correlationid": "email"},
            {"sender": "joseph"},
            T,
        ),
    ],
)
def test_service_bus_documented_examples(
    expression: str, system: dict[str, Any], user: dict[str, Any], expected: bool
) -> None:
    assert compile_filter(expression).evaluate(system, user) is expected


# --- docs/filters.md: every python block runs -------------------------------------------------------------------

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# One fresh interpreter runs every block, each in a namespace of its own, as a user pasting it into a script would;
# one interpreter rather than one per block, because importing queue_runtime is most of the cost.
RUNNER = """
import json, sys, traceback
failed = []
for index, code in enumerate(json.loads(sys.stdin.read())):
    try:
        exec(compile(code, f"docs/filters.md#{index}", "exec"), {"__name__": "__main__"})
    except BaseException:
        failed.append(index)
        print(f"--- block {index} failed:\\n{code}\\n{traceback.format_exc()}", file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def doc_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "docs" / "filters.md").read_text())


def test_every_python_block_of_the_filters_page_runs() -> None:
    blocks = doc_blocks()
    assert len(blocks) >= 10
    result = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(blocks), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_the_runner_reports_a_failing_block() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(["x = 1", "assert False, 'told'"]),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1 and "block 1 failed" in result.stderr and "told" in result.stderr
