"""Compile a parsed SQL filter or action into nested Python closures, once.

Each node of lark's tree becomes a :class:`Node` holding a closure ``fn(system, user)``; evaluating a filter calls
closures only, never reads the text or the tree again. Constant sub-expressions (literals, parameters, ``-5``,
``2 * @x``) are folded at compile time, and comparisons and LIKE against a constant get a fast path.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ._grammar import GRAMMAR
from ._properties import READ_ONLY_SYSTEM_PROPERTIES, PropertyRef, resolve_property
from ._values import (
    COMPARISONS,
    INT64_MAX,
    LikeMatcher,
    arithmetic,
    compare,
    kind_of,
    like_matcher,
    membership_key,
    negate,
)
from .errors import FilterEvaluationError, InvalidFilterError

__all__ = ["Evaluator", "Statement", "compile_action_tree", "compile_filter_tree", "normalize_parameters", "parse"]

Evaluator = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]
Statement = Callable[[MutableMapping[str, Any], MutableMapping[str, Any]], None]
# Operators nested deeper than this are refused when compiling, so that evaluating never exhausts Python's stack.
MAX_DEPTH = 128
_PARAMETER_TYPES = (str, int, float, bool, datetime, timedelta, uuid.UUID, bytes)
_TERMINAL_NAMES = {
    "COMP_OP": "a comparison operator",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "IDENT": "a property name",
    "DELIMITED": "a [bracketed] name",
    "QUOTED": 'a "quoted" name',
    "STRING": "a string",
    "NUMBER": "a number",
    "PARAM": "a @parameter",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "SEMICOLON": "';'",
    "$END": "the end",
}


class _Fail(Exception):
    """A compile error at a position; turned into InvalidFilterError by the caller."""

    def __init__(self, reason: str, where: Tree[Token] | Token | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line, self.column = _position(where)


def _position(where: Tree[Token] | Token | None) -> tuple[int | None, int | None]:
    if isinstance(where, Token):
        return where.line, where.column
    if isinstance(where, Tree) and not where.meta.empty:
        return where.meta.line, where.meta.column
    return None, None


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, start=["filter", "action"], parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _readable(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    return name.lstrip("_")


def parse(text: str, start: str, kind: str) -> Tree[Token]:
    """Parse ``text`` from rule ``start``; a syntax error becomes InvalidFilterError with its line and column."""
    try:
        return _parser().parse(text, start=start)
    except UnexpectedInput as error:
        if isinstance(error, UnexpectedCharacters):
            position = error.pos_in_stream or 0
            reason = f"unexpected character {text[position]!r}"
        elif isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
            expected = sorted({_readable(name) for name in error.expected})
            reason = "unexpected end of expression; expected " + ", ".join(expected)
            if not text.strip():
                reason = "the expression is empty"
            line, column = _end_position(text)
            raise InvalidFilterError(text, reason, line=line, column=column, kind=kind) from None
        elif isinstance(error, UnexpectedToken):
            expected = sorted({_readable(name) for name in error.expected})
            reason = f"unexpected {error.token.value!r}; expected " + ", ".join(expected)
        else:  # pragma: no cover - lark has no other UnexpectedInput kinds
            reason = str(error)
        raise InvalidFilterError(text, reason, line=error.line, column=error.column, kind=kind) from None


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def normalize_parameters(parameters: Mapping[str, Any] | None, text: str, kind: str) -> dict[str, Any]:
    """Parameters keyed ``@name`` in lower case; a value of an unsupported type is refused."""
    found: dict[str, Any] = {}
    for name, value in (parameters or {}).items():
        if not isinstance(name, str) or not name.lstrip("@"):
            raise InvalidFilterError(text, f"parameter name {name!r} is not a non-empty string", kind=kind)
        if value is not None and not isinstance(value, _PARAMETER_TYPES):
            raise InvalidFilterError(text, f"parameter '{name}' has unsupported type {type(value).__name__}", kind=kind)
        key = name if name.startswith("@") else "@" + name
        found[key.casefold()] = value
    return found


@dataclass(slots=True)
class Node:
    """A compiled expression: ``fn`` evaluates it; ``condition`` tells a predicate (T/F/unknown) from a value."""

    fn: Evaluator
    condition: bool
    value_ok: bool
    where: Tree[Token] | Token
    constant: bool = False
    value: Any = None


def _const(value: Any, where: Tree[Token] | Token, *, condition: bool = False) -> Node:
    return Node(lambda system, user: value, condition, True, where, constant=True, value=value)


def _fold(node: Node, *children: Node) -> Node:
    """Evaluate a node of constant children now; a failure stays for evaluation time, as Service Bus reports it."""
    if all(child.constant for child in children):
        try:
            value = node.fn({}, {})
        except Exception:  # FilterEvaluationError and anything else: raised on each message, as Service Bus does
            return node
        folded = _const(value, node.where, condition=node.condition)
        folded.value_ok = node.value_ok
        return folded
    return node


class _Compiler:
    def __init__(self, parameters: dict[str, Any]) -> None:
        self.parameters = parameters
        self.depth = 0

    # entry points -------------------------------------------------------------------------------------------------

    def condition(self, tree: Tree[Token] | Token) -> Node:
        node = self.compile(tree)
        if not node.condition:
            raise _Fail("expected a condition (a comparison, IN, LIKE, IS NULL, EXISTS, TRUE or FALSE)", tree)
        return node

    def value(self, tree: Tree[Token] | Token) -> Node:
        node = self.compile(tree)
        if not node.value_ok:
            raise _Fail("expected a value, found a condition", tree)
        return node

    def compile(self, tree: Tree[Token] | Token) -> Node:
        if isinstance(tree, Token):  # pragma: no cover - every literal is wrapped in a rule
            raise _Fail(f"unexpected {tree.value!r}", tree)
        method = getattr(self, "_" + str(tree.data).rstrip("_"), None)
        if method is None:  # pragma: no cover - the grammar has no other rules
            raise _Fail(f"unsupported construct {tree.data}", tree)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fail(f"the expression nests too deeply (more than {MAX_DEPTH} levels)", tree)
        try:
            node: Node = method(tree)
        finally:
            self.depth -= 1
        return node

    # literals and names -------------------------------------------------------------------------------------------

    def _string(self, tree: Tree[Token]) -> Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        return _const(token.value[1:-1].replace("''", "'"), tree)

    def _number(self, tree: Tree[Token]) -> Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        text = token.value
        if any(char in text for char in ".eE"):
            value = float(text)
            if math.isinf(value):
                raise _Fail(f"number {text} is outside the range of a double", tree)
            return _const(value, tree)
        number = int(text)
        if number > INT64_MAX:
            raise _Fail(f"integer {text} is outside the range of Int64", tree)
        return _const(number, tree)

    def _true(self, tree: Tree[Token]) -> Node:
        return _const(True, tree, condition=True)

    def _false(self, tree: Tree[Token]) -> Node:
        return _const(False, tree, condition=True)

    def _null(self, tree: Tree[Token]) -> Node:
        return _const(None, tree)

    def _parameter(self, tree: Tree[Token]) -> Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        key = token.value.casefold()
        if key not in self.parameters:
            raise _Fail(f"parameter '{token.value}' is not given", tree)
        return _const(self.parameters[key], tree)

    def reference(self, tree: Tree[Token]) -> PropertyRef:
        if tree.data == "scoped":
            scope_token, name_token = tree.children
            assert isinstance(scope_token, Token)
            scope: str | None = scope_token.value
        else:
            (name_token,) = tree.children
            scope = None
        assert isinstance(name_token, Token)
        name = _name(name_token)
        if not name:
            raise _Fail("a property name cannot be empty", name_token)
        try:
            return resolve_property(scope, name)
        except KeyError as error:
            raise _Fail(str(error.args[0]), tree) from None

    def _scoped(self, tree: Tree[Token]) -> Node:
        return Node(self.reference(tree).getter(), False, True, tree)

    _unscoped = _scoped

    def _function(self, tree: Tree[Token]) -> Node:
        name_token, *rest = tree.children
        assert isinstance(name_token, Token)
        args = [self.value(arg) for arg in rest if arg is not None]
        name = name_token.value.casefold()
        if name == "newid":
            if args:
                raise _Fail("newid() takes no arguments", tree)
            return Node(lambda system, user: uuid.uuid4(), False, True, tree)
        if name in ("property", "p"):
            if len(args) != 1:
                raise _Fail(f"{name_token.value}() takes one argument, the property name", tree)
            (arg,) = args
            if arg.constant:
                if not isinstance(arg.value, str):
                    raise _Fail(f"{name_token.value}() takes a string", tree)
                try:
                    getter = _runtime_getter(arg.value)
                except KeyError as error:
                    raise _Fail(str(error.args[0]), tree) from None
                return Node(getter, False, True, tree)
            dynamic = arg.fn

            def property_of(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                name_value = dynamic(system, user)
                if name_value is None:
                    return None
                if not isinstance(name_value, str):
                    raise FilterEvaluationError("property() takes a string")
                try:
                    return _runtime_getter(name_value)(system, user)
                except KeyError as error:
                    raise FilterEvaluationError(str(error.args[0])) from None

            return Node(property_of, False, True, tree)
        raise _Fail(f"unknown function '{name_token.value}' (there are newid(), property() and p())", tree)

    # arithmetic ---------------------------------------------------------------------------------------------------

    def _sum(self, tree: Tree[Token]) -> Node:
        """A left-associative chain (a + b - c, a * b / c), evaluated in one loop, never as deep recursion."""
        children = tree.children
        first_tree = children[0]
        assert first_tree is not None
        first = self.value(first_tree)
        rest: list[tuple[str, Node]] = []
        for index in range(1, len(children), 2):
            op_token, operand_tree = children[index], children[index + 1]
            assert isinstance(op_token, Token) and operand_tree is not None
            rest.append((op_token.value, self.value(operand_tree)))
        if len(rest) == 1:
            (op, right), lf = rest[0], first.fn
            rf = right.fn

            def binary(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                return arithmetic(op, lf(system, user), rf(system, user))

            return _fold(Node(binary, False, True, tree), first, right)
        head = first.fn
        steps = tuple((op, node.fn) for op, node in rest)

        def chain(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
            result = head(system, user)
            for op, operand in steps:
                result = arithmetic(op, result, operand(system, user))
            return result

        return _fold(Node(chain, False, True, tree), first, *(node for _, node in rest))

    _product = _sum

    def _unary(self, tree: Tree[Token]) -> Node:
        op_token, operand_tree = tree.children
        assert isinstance(op_token, Token) and operand_tree is not None
        operand = self.value(operand_tree)
        op, inner = op_token.value, operand.fn

        def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
            return negate(op, inner(system, user))

        return _fold(Node(evaluate, False, True, tree), operand)

    # predicates ---------------------------------------------------------------------------------------------------

    def _compare(self, tree: Tree[Token]) -> Node:
        left_tree, op_token, right_tree = tree.children
        assert isinstance(op_token, Token) and left_tree is not None and right_tree is not None
        left, right = self.value(left_tree), self.value(right_tree)
        op = op_token.value
        if left.constant and not right.constant:  # keep the constant on the right: 5 < x is x > 5
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        fn = COMPARISONS[op]
        lf = left.fn
        if right.constant:
            constant = right.value
            kind = kind_of(constant)
            if kind == "string":

                def with_string(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                    value = lf(system, user)
                    if type(value) is str:
                        return fn(value, constant)
                    return compare(op, value, constant)

                return _fold(Node(with_string, True, False, tree), left, right)
            if kind == "number":

                def with_number(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                    value = lf(system, user)
                    if type(value) is int or type(value) is float:
                        return fn(value, constant)
                    return compare(op, value, constant)

                return _fold(Node(with_number, True, False, tree), left, right)

            def with_constant(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                return compare(op, lf(system, user), constant)

            return _fold(Node(with_constant, True, False, tree), left, right)
        rf = right.fn

        def general(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
            return compare(op, lf(system, user), rf(system, user))

        return Node(general, True, False, tree)

    def _is_null(self, tree: Tree[Token]) -> Node:
        operand_tree = tree.children[0]
        assert operand_tree is not None
        inner = self.value(operand_tree).fn
        return Node(lambda system, user: inner(system, user) is None, True, False, tree)

    def _is_not_null(self, tree: Tree[Token]) -> Node:
        operand_tree = tree.children[0]
        assert operand_tree is not None
        inner = self.value(operand_tree).fn
        return Node(lambda system, user: inner(system, user) is not None, True, False, tree)

    def _exists(self, tree: Tree[Token]) -> Node:
        prop_tree = tree.children[0]
        assert isinstance(prop_tree, Tree)
        return Node(self.reference(prop_tree).exists(), True, False, tree)

    def _in(self, tree: Tree[Token], negated: bool = False) -> Node:
        left_tree, *item_trees = tree.children
        assert left_tree is not None
        left = self.value(left_tree)
        items = [self.value(item) for item in item_trees if item is not None]
        lf = left.fn
        evaluate: Evaluator
        keys: frozenset[Any] | None = None
        if all(item.constant for item in items):
            try:
                keys = frozenset(membership_key(item.value) for item in items if item.value is not None)
            except TypeError:
                keys = None
        if keys is not None:
            members = keys

            def in_constants(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                value = lf(system, user)
                if value is None:
                    return None
                if type(value) is str:
                    return value in members
                try:
                    return membership_key(value) in members
                except TypeError:
                    return False

            evaluate = in_constants
        else:
            item_fns = [item.fn for item in items]

            def in_values(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                value = lf(system, user)
                if value is None:
                    return None
                return any(compare("=", value, item(system, user)) is True for item in item_fns)

            evaluate = in_values
        if negated:
            positive = evaluate

            def not_in(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                result = positive(system, user)
                return None if result is None else not result

            evaluate = not_in
        return _fold(Node(evaluate, True, False, tree), left, *items)

    def _not_in(self, tree: Tree[Token]) -> Node:
        return self._in(tree, negated=True)

    def _like(self, tree: Tree[Token], negated: bool = False) -> Node:
        children = [child for child in tree.children if child is not None]
        left = self.value(children[0])
        pattern = self.value(children[1])
        escape = self.value(children[2]) if len(children) > 2 else None
        lf = left.fn
        evaluate: Evaluator
        if pattern.constant and (escape is None or escape.constant):
            if not isinstance(pattern.value, str):
                raise _Fail("the LIKE pattern must be a string", children[1])
            escape_char = None if escape is None else escape.value
            if escape is not None and (not isinstance(escape_char, str) or len(escape_char) != 1):
                raise _Fail("the ESCAPE character must be a string of length 1", children[2])
            try:
                match = LikeMatcher(pattern.value, escape_char).match
            except ValueError as error:
                raise _Fail(str(error), children[1]) from None

            def like_constant(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                value = lf(system, user)
                if type(value) is str or isinstance(value, str):
                    return match(value)
                return None  # unknown, or not a string: unknown

            evaluate = like_constant
        else:
            pf = pattern.fn
            ef = None if escape is None else escape.fn

            def like_dynamic(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                value, pattern_value = lf(system, user), pf(system, user)
                escape_value = None if ef is None else ef(system, user)
                if value is None or pattern_value is None or (ef is not None and escape_value is None):
                    return None
                if not isinstance(pattern_value, str):
                    raise FilterEvaluationError("the LIKE pattern must be a string")
                if escape_value is not None and (not isinstance(escape_value, str) or len(escape_value) != 1):
                    raise FilterEvaluationError("the ESCAPE character must be a string of length 1")
                if not isinstance(value, str):
                    return None
                try:
                    return like_matcher(pattern_value, escape_value).match(value)
                except ValueError as error:
                    raise FilterEvaluationError(str(error)) from None

            evaluate = like_dynamic
        if negated:
            positive = evaluate

            def not_like(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
                result = positive(system, user)
                return None if result is None else not result

            evaluate = not_like
        parts = [left, pattern] + ([escape] if escape is not None else [])
        return _fold(Node(evaluate, True, False, tree), *parts)

    def _not_like(self, tree: Tree[Token]) -> Node:
        return self._like(tree, negated=True)

    # logic --------------------------------------------------------------------------------------------------------

    def _not(self, tree: Tree[Token]) -> Node:
        operand_tree = tree.children[0]
        assert operand_tree is not None
        operand = self.condition(operand_tree)
        inner = operand.fn

        def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
            result = inner(system, user)
            return None if result is None else not result

        return _fold(Node(evaluate, True, False, tree), operand)

    def _and_expr(self, tree: Tree[Token]) -> Node:
        operands = [self.condition(child) for child in tree.children if child is not None]
        fns = [operand.fn for operand in operands]
        evaluate = _and(*fns) if len(fns) == 2 else _and_all(fns)
        return _fold(Node(evaluate, True, False, tree), *operands)

    def _or_expr(self, tree: Tree[Token]) -> Node:
        operands = [self.condition(child) for child in tree.children if child is not None]
        fns = [operand.fn for operand in operands]
        evaluate = _or(*fns) if len(fns) == 2 else _or_all(fns)
        return _fold(Node(evaluate, True, False, tree), *operands)


def _and_all(operands: list[Evaluator]) -> Evaluator:
    steps = tuple(operands)

    def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
        unknown = False
        for operand in steps:
            result = operand(system, user)
            if result is False:
                return False
            if result is None:
                unknown = True
        return None if unknown else True

    return evaluate


def _or_all(operands: list[Evaluator]) -> Evaluator:
    steps = tuple(operands)

    def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
        unknown = False
        for operand in steps:
            result = operand(system, user)
            if result is True:
                return True
            if result is None:
                unknown = True
        return None if unknown else False

    return evaluate


def _and(first: Evaluator, second: Evaluator) -> Evaluator:
    def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
        a = first(system, user)
        if a is False:
            return False
        b = second(system, user)
        if b is False:
            return False
        if a is None or b is None:
            return None
        return True

    return evaluate


def _or(first: Evaluator, second: Evaluator) -> Evaluator:
    def evaluate(system: Mapping[str, Any], user: Mapping[str, Any]) -> Any:
        a = first(system, user)
        if a is True:
            return True
        b = second(system, user)
        if b is True:
            return True
        if a is None or b is None:
            return None
        return False

    return evaluate


def _name(token: Token) -> str:
    text = str(token.value)
    if token.type == "DELIMITED":
        return text[1:-1].replace("]]", "]")
    if token.type == "QUOTED":
        return text[1:-1].replace('""', '"')
    return text


@lru_cache(maxsize=256)
def _runtime_getter(name: str) -> Evaluator:
    """The getter behind property('sys.Label') / p('color'): an optional scope, then the name."""
    scope, dot, rest = name.partition(".")
    if dot and scope.casefold() in ("sys", "user"):
        return resolve_property(scope, rest).getter()
    return resolve_property(None, name).getter()


def _fail(text: str, error: _Fail, kind: str) -> InvalidFilterError:
    return InvalidFilterError(text, error.reason, line=error.line, column=error.column, kind=kind)


def compile_filter_tree(text: str, tree: Tree[Token], parameters: dict[str, Any]) -> Evaluator:
    """The evaluator of a parsed filter: returns True, False or None (unknown)."""
    try:
        body = tree.children[0]
        assert body is not None
        return _Compiler(parameters).condition(body).fn
    except _Fail as error:
        raise _fail(text, error, "filter") from None
    except RecursionError:
        raise InvalidFilterError(text, "the expression nests too deeply", kind="filter") from None


def compile_action_tree(text: str, tree: Tree[Token], parameters: dict[str, Any]) -> list[Statement]:
    """The statements of a parsed action, in order."""
    compiler = _Compiler(parameters)
    statements: list[Statement] = []
    try:
        for statement in tree.children:
            assert isinstance(statement, Tree)
            prop_tree = statement.children[0]
            assert isinstance(prop_tree, Tree)
            ref = compiler.reference(prop_tree)
            if ref.scope == "sys" and ref.key in READ_ONLY_SYSTEM_PROPERTIES:
                raise _Fail(f"system property '{ref.text}' is read-only", prop_tree)
            if statement.data == "remove_stmt":
                if ref.scope == "sys" and ref.key == "messageid":
                    raise _Fail("sys.MessageId cannot be removed", prop_tree)
                statements.append(ref.remover())
                continue
            _, op_token, value_tree = statement.children
            assert isinstance(op_token, Token) and value_tree is not None
            if op_token.value != "=":
                raise _Fail(f"expected '=' after the property, found {op_token.value!r}", op_token)
            statements.append(_assignment(ref, compiler.value(value_tree).fn))
    except _Fail as error:
        raise _fail(text, error, "action") from None
    except RecursionError:
        raise InvalidFilterError(text, "the expression nests too deeply", kind="action") from None
    return statements


def _assignment(ref: PropertyRef, value: Evaluator) -> Statement:
    setter = ref.setter()

    def assign(system: MutableMapping[str, Any], user: MutableMapping[str, Any]) -> None:
        setter(system, user, value(system, user))

    return assign
