"""SQL rule actions: SET and REMOVE on user and system properties, applied to one message's copy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from queue_runtime.broker.sql import CompiledAction, FilterEvaluationError, InvalidFilterError, compile_action


def run(
    expression: str,
    user: dict[str, Any],
    system: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    system = {"messageid": "m-1", "label": "order", "correlationid": None, **(system or {})}
    compile_action(expression, parameters=parameters).apply(system, user)
    return system, user


def test_interface() -> None:
    text = "SET sys.Label = 'x'; REMOVE color"
    action = compile_action(text, parameters=None)
    assert isinstance(action, CompiledAction)
    assert action.expression == text
    system: dict[str, Any] = {"label": "order"}
    user: dict[str, Any] = {"color": "red", "size": 1}
    assert action.apply(system, user) is None
    assert system == {"label": "x"}
    assert user == {"size": 1}


def test_the_documented_example() -> None:
    system, user = run(
        "SET quantity = quantity / 2; REMOVE priority;SET sys.CorrelationId = 'low';",
        {"color": "red", "quantity": 10, "priority": "high"},
    )
    assert user == {"color": "red", "quantity": 5}
    assert system["correlationid"] == "low"


def test_set_creates_or_updates_a_user_property() -> None:
    assert run("SET source = 'routedOrders'", {})[1] == {"source": "routedOrders"}
    assert run("SET source='routedOrders'", {"source": "orders"})[1] == {"source": "routedOrders"}
    assert run("SET user.n = n + 1", {"n": 1})[1] == {"n": 2}
    assert run("SET [my prop] = 'x'", {})[1] == {"my prop": "x"}


def test_set_keeps_the_existing_name_and_converts_like_csharp() -> None:
    assert run("SET COLOR = 'blue'", {"Color": "red"})[1] == {"Color": "blue"}
    assert run("SET price = 3", {"price": 1.5})[1] == {"price": 3.0}
    assert isinstance(run("SET price = 3", {"price": 1.5})[1]["price"], float)
    assert run("SET count = 2.5", {"count": 1})[1] == {"count": 2.5}
    assert run("SET flag = TRUE", {})[1] == {"flag": True}


def test_statements_run_in_order_and_see_earlier_ones() -> None:
    assert run("SET a = 1; SET b = a + 1; SET a = b * 10", {})[1] == {"a": 20, "b": 2}
    assert run("SET a = 1 SET b = 2", {})[1] == {"a": 1, "b": 2}  # the semicolon is optional
    assert run("SET a = 1, SET b = 2", {})[1] == {"a": 1, "b": 2}  # statements may be comma-separated
    assert run("set a = 1; remove b;", {"b": 0})[1] == {"a": 1}  # keywords in any case


def test_unknown_values_assign_null_and_do_not_fail() -> None:
    assert run("SET a = missing", {})[1] == {"a": None}
    assert run("SET a = missing + 1", {"a": 5})[1] == {"a": None}
    assert run("SET a = NULL", {"a": 5})[1] == {"a": None}


def test_remove() -> None:
    assert run("REMOVE color", {"Color": "red", "size": 1})[1] == {"size": 1}
    assert run("REMOVE color", {"size": 1})[1] == {"size": 1}  # absent: nothing to do
    system, _ = run("REMOVE sys.CorrelationId", {}, {"correlationid": "c"})
    assert system["correlationid"] is None


@pytest.mark.parametrize(
    ("statement", "key"),
    [
        ("SET sys.Label = 'v'", "label"),
        ("SET sys.Subject = 'v'", "label"),
        ("SET sys.To = 'v'", "to"),
        ("SET sys.ReplyTo = 'v'", "replyto"),
        ("SET sys.CorrelationId = 'v'", "correlationid"),
        ("SET sys.MessageId = 'v'", "messageid"),
        ("SET sys.SessionId = 'v'", "sessionid"),
        ("SET sys.ReplyToSessionId = 'v'", "replytosessionid"),
        ("SET sys.ContentType = 'v'", "contenttype"),
    ],
)
def test_set_writable_system_properties(statement: str, key: str) -> None:
    system, _ = run(statement, {})
    assert system[key] == "v"


def test_set_system_property_from_expressions_and_parameters() -> None:
    system, _ = run("SET sys.Label = sys.Label + '-' + color", {"color": "red"})
    assert system["label"] == "order-red"
    system, _ = run("SET sys.TimeToLive = @ttl", {}, parameters={"@ttl": timedelta(minutes=2)})
    assert system["timetolive"] == 120.0
    system, _ = run("SET sys.To = @to", {}, parameters={"to": "elsewhere"})
    assert system["to"] == "elsewhere"


@pytest.mark.parametrize(
    ("expression", "user", "reason"),
    [
        ("SET sys.Label = 5", {}, "takes a string"),
        ("SET sys.TimeToLive = 5", {}, "takes a timespan"),
        ("SET sys.MessageId = missing", {}, "cannot be NULL"),
        ("SET a = 1 / b", {"b": 0}, "division by zero"),
        ("SET a = b + 1", {"b": "x"}, "cannot be applied"),
    ],
)
def test_evaluation_failures(expression: str, user: dict[str, Any], reason: str) -> None:
    with pytest.raises(FilterEvaluationError, match=reason) as caught:
        run(expression, user)
    assert caught.value.expression == expression


def test_a_failing_action_leaves_the_message_as_it_was() -> None:
    action = compile_action("SET a = 1; SET sys.Label = 'changed'; REMOVE b; SET c = 1 / 0")
    system: dict[str, Any] = {"label": "order"}
    user: dict[str, Any] = {"b": 2}
    with pytest.raises(FilterEvaluationError):
        action.apply(system, user)
    assert system == {"label": "order"}
    assert user == {"b": 2}


@pytest.mark.parametrize(
    ("expression", "line", "column", "reason"),
    [
        ("", 1, 1, "empty"),
        ("SET", 1, 4, "unexpected end"),
        ("SET a", 1, 6, "unexpected end"),
        ("SET a =", 1, 8, "unexpected end"),
        ("SET a > 1", 1, 7, "expected '='"),
        ("UPDATE a = 1", 1, 1, "unexpected"),
        ("REMOVE", 1, 7, "unexpected end"),
        ("REMOVE a = 1", 1, 10, "unexpected"),
        ("SET a = b = 1", 1, 9, "expected a value"),
        ("SET sys.Nope = 1", 1, 5, "unknown system property"),
        ("SET sys.SequenceNumber = 1", 1, 5, "read-only"),
        ("SET sys.EnqueuedTimeUtc = NULL", 1, 5, "read-only"),
        ("REMOVE sys.DeliveryCount", 1, 8, "read-only"),
        ("REMOVE sys.MessageId", 1, 8, "cannot be removed"),
        ("SET sys.PartitionKey = 'p'", 1, 5, "read-only"),
        ("SET a = @p", 1, 9, "'@p' is not given"),
        ("SET a = 1;\nSET b = 'x", 2, 9, "unexpected character"),
    ],
)
def test_malformed_actions_are_refused_with_position(expression: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        compile_action(expression)
    error = caught.value
    assert reason in error.reason, error.reason
    assert (error.line, error.column) == (line, column), error.message
    assert error.kind == "action" and error.code == "invalid_filter"
