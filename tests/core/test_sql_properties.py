"""Properties of the SQL filter language checked on generated expressions and messages (hypothesis)."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queue_runtime.broker.sql import FilterEvaluationError, InvalidFilterError, compile_action, compile_filter

PROFILE = settings(max_examples=100, deadline=None)
NAMES = ["p0", "p1", "p2", "p3"]
OPS: dict[str, Any] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# --- an independent oracle: expressions as data, evaluated with Kleene's three-valued logic ----------------------


@dataclass(frozen=True)
class Compare:
    name: str
    op: str
    constant: int


@dataclass(frozen=True)
class IsNull:
    name: str
    negated: bool


@dataclass(frozen=True)
class Exists:
    name: str


@dataclass(frozen=True)
class In:
    name: str
    items: tuple[int, ...]
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class Binary:
    op: str  # AND / OR
    left: Any
    right: Any


def oracle(node: Any, message: dict[str, Any]) -> bool | None:
    if isinstance(node, Compare):
        value = message.get(node.name)
        return None if value is None else bool(OPS[node.op](value, node.constant))
    if isinstance(node, IsNull):
        return (message.get(node.name) is None) != node.negated
    if isinstance(node, Exists):
        return node.name in message
    if isinstance(node, In):
        value = message.get(node.name)
        if value is None:
            return None
        return (value in node.items) != node.negated
    if isinstance(node, Not):
        inner = oracle(node.operand, message)
        return None if inner is None else not inner
    left, right = oracle(node.left, message), oracle(node.right, message)
    if node.op == "AND":
        if left is False or right is False:
            return False
        return None if left is None or right is None else True
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def render(node: Any, draw: Any) -> str:
    def keyword(word: str) -> str:
        return "".join(
            c.upper() if flip else c.lower()
            for c, flip in zip(word, draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word))), strict=True)
        )

    def name(text: str) -> str:
        style = draw(st.sampled_from(["plain", "upper", "user", "bracket"]))
        return {"plain": text, "upper": text.upper(), "user": "user." + text, "bracket": f"[{text}]"}[style]

    if isinstance(node, Compare):
        return f"{name(node.name)} {node.op} {node.constant}"
    if isinstance(node, IsNull):
        return f"{name(node.name)} {keyword('IS')} {keyword('NOT') + ' ' if node.negated else ''}{keyword('NULL')}"
    if isinstance(node, Exists):
        return f"{keyword('EXISTS')}({name(node.name)})"
    if isinstance(node, In):
        items = ", ".join(str(item) for item in node.items)
        return f"{name(node.name)} {keyword('NOT') + ' ' if node.negated else ''}{keyword('IN')} ({items})"
    if isinstance(node, Not):
        return f"{keyword('NOT')} ({render(node.operand, draw)})"
    return f"({render(node.left, draw)}) {keyword(node.op)} ({render(node.right, draw)})"


names = st.sampled_from(NAMES)
small = st.integers(-3, 3)
atoms = st.one_of(
    st.builds(Compare, names, st.sampled_from(list(OPS)), small),
    st.builds(IsNull, names, st.booleans()),
    st.builds(Exists, names),
    st.builds(In, names, st.lists(small, min_size=1, max_size=4).map(tuple), st.booleans()),
)
trees = st.recursive(
    atoms,
    lambda children: st.one_of(
        st.builds(Not, children), st.builds(Binary, st.sampled_from(["AND", "OR"]), children, children)
    ),
    max_leaves=12,
)
messages = st.dictionaries(names, st.one_of(st.none(), small), max_size=4)


@PROFILE
@given(tree=trees, message=messages, data=st.data())
def test_compiled_filters_agree_with_the_three_valued_oracle(tree: Any, message: dict[str, Any], data: Any) -> None:
    text = render(tree, data.draw)
    compiled = compile_filter(text)
    expected = oracle(tree, message)
    assert compiled.evaluate({}, message) is expected, text
    assert compiled.matches({}, message) is (expected is True)


@PROFILE
@given(tree=trees, message=messages, data=st.data())
def test_not_not_is_the_identity_and_de_morgan_holds(tree: Any, message: dict[str, Any], data: Any) -> None:
    text = render(tree, data.draw)
    value = compile_filter(text).evaluate({}, message)
    assert compile_filter(f"NOT NOT ({text})").evaluate({}, message) is value
    other = render(data.draw(trees), data.draw)
    left = compile_filter(f"NOT (({text}) AND ({other}))").evaluate({}, message)
    right = compile_filter(f"(NOT ({text})) OR (NOT ({other}))").evaluate({}, message)
    assert left is right


@PROFILE
@given(a=trees, b=trees, c=trees, message=messages, data=st.data())
def test_and_binds_tighter_than_or_and_not_tighter_than_and(
    a: Any, b: Any, c: Any, message: dict[str, Any], data: Any
) -> None:
    ta, tb, tc = (f"({render(node, data.draw)})" for node in (a, b, c))
    flat = compile_filter(f"{ta} OR {tb} AND {tc}").evaluate({}, message)
    assert flat is oracle(Binary("OR", a, Binary("AND", b, c)), message)
    negated = compile_filter(f"NOT {ta} AND {tb}").evaluate({}, message)
    assert negated is oracle(Binary("AND", Not(a), b), message)


# --- LIKE against an independent matcher -------------------------------------------------------------------------


def like_oracle(value: str, pattern: str, escape: str | None) -> bool:
    tokens: list[tuple[str, str]] = []  # ("lit", c) / ("any", "") / ("one", "")
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if escape is not None and char == escape:
            tokens.append(("lit", pattern[index + 1]))
            index += 2
            continue
        tokens.append(("any", "") if char == "%" else ("one", "") if char == "_" else ("lit", char))
        index += 1

    @cache
    def match(i: int, j: int) -> bool:
        if j == len(tokens):
            return i == len(value)
        kind, char = tokens[j]
        if kind == "any":
            return match(i, j + 1) or (i < len(value) and match(i + 1, j))
        if i == len(value):
            return False
        return (kind == "one" or value[i] == char) and match(i + 1, j + 1)

    return match(0, 0)


def regex_oracle(value: str, pattern: str, escape: str | None) -> bool:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == escape:
            escaped = True
        else:
            out.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return re.fullmatch("".join(out), value, re.DOTALL) is not None


alphabet = st.text(alphabet="ab%_!\n", max_size=8)


@PROFILE
@given(value=st.text(alphabet="ab%_!\n", max_size=10), pattern=alphabet, escape=st.sampled_from([None, "!"]))
def test_like_agrees_with_a_reference_matcher(value: str, pattern: str, escape: str | None) -> None:
    literal = "'" + pattern.replace("'", "''") + "'"
    text = f"s LIKE {literal}" + (f" ESCAPE '{escape}'" if escape else "")
    trailing_escape = escape is not None and (len(pattern) - len(pattern.rstrip(escape))) % 2 == 1
    if trailing_escape:
        with pytest.raises(InvalidFilterError, match="escape"):
            compile_filter(text)
        return
    compiled = compile_filter(text)
    expected = like_oracle(value, pattern, escape)
    assert regex_oracle(value, pattern, escape) is expected  # two oracles, two algorithms, one answer
    assert compiled.matches({}, {"s": value}) is expected, text
    dynamic = compile_filter("s LIKE p" + (" ESCAPE e" if escape else ""))
    message = {"s": value, "p": pattern, "e": escape}
    assert dynamic.matches({}, message) is like_oracle(value, pattern, escape)


# --- literals, names and arithmetic ----------------------------------------------------------------------------------


@PROFILE
@given(text=st.text(max_size=20))
def test_any_string_literal_round_trips(text: str) -> None:
    literal = "'" + text.replace("'", "''") + "'"
    assert compile_filter(f"s = {literal}").matches({}, {"s": text})
    assert compile_filter(f"s <> {literal}").matches({}, {"s": text + "x"})


@PROFILE
@given(name=st.text(min_size=1, max_size=20))
def test_any_delimited_name_round_trips(name: str) -> None:
    assert compile_filter("[" + name.replace("]", "]]") + "] = 1").matches({}, {name: 1})
    assert compile_filter('"' + name.replace('"', '""') + '" = 1').matches({}, {name: 1})


@PROFILE
@given(a=st.text(max_size=6), b=st.text(max_size=6), op=st.sampled_from(list(OPS)))
def test_strings_compare_ordinally(a: str, b: str, op: str) -> None:
    assert compile_filter(f"a {op} b").evaluate({}, {"a": a, "b": b}) is OPS[op](a, b)


int64 = st.integers(-(2**63), 2**63 - 1)


@PROFILE
@given(a=int64, b=int64.filter(lambda n: n != 0))
def test_integer_division_and_remainder_follow_csharp(a: int, b: int) -> None:
    quotient = math.trunc(Fraction(a, b))
    user: dict[str, Any] = {"a": a, "b": b}
    if not -(2**63) <= quotient < 2**63:  # long.MinValue / -1
        with pytest.raises(FilterEvaluationError, match="overflow"):
            compile_action("SET q = a / b").apply({}, user)
        return
    compile_action("SET q = a / b; SET r = a % b").apply({}, user)
    assert user["q"] == quotient
    assert user["r"] == a - b * quotient
    assert abs(user["r"]) < abs(b) and (user["r"] == 0 or (user["r"] > 0) == (a > 0))


@PROFILE
@given(a=st.integers(-(10**6), 10**6), b=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_mixed_arithmetic_is_double(a: int, b: float) -> None:
    user: dict[str, Any] = {"a": a, "b": b}
    compile_action("SET s = a + b; SET d = a - b; SET m = a * b").apply({}, user)
    assert (user["s"], user["d"], user["m"]) == (a + b, a - b, a * b)
    assert all(isinstance(user[key], float) for key in "sdm")


# --- actions against a dictionary oracle -------------------------------------------------------------------------

statements = st.lists(
    st.tuples(st.sampled_from(["SET", "REMOVE"]), names, st.sampled_from(["lower", "upper"]), small),
    min_size=1,
    max_size=6,
)


@PROFILE
@given(
    program=statements, start=st.dictionaries(names, small, max_size=4), separator=st.sampled_from(["; ", ", ", " "])
)
def test_actions_agree_with_a_case_insensitive_dictionary(
    program: list[tuple[str, str, str, int]], start: dict[str, int], separator: str
) -> None:
    text = separator.join(
        f"SET {name.upper() if case == 'upper' else name} = {value}"
        if verb == "SET"
        else f"REMOVE {name.upper() if case == 'upper' else name}"
        for verb, name, case, value in program
    )
    expected = dict(start)  # keyed by lower-case names: the oracle ignores spelling, as the language does
    for verb, name, _, value in program:
        if verb == "SET":
            expected[name] = value
        else:
            expected.pop(name, None)
    user: dict[str, Any] = dict(start)
    compile_action(text).apply({}, user)
    assert {key.lower(): value for key, value in user.items()} == expected, text
    assert len(user) == len(expected)  # never two spellings of one name
