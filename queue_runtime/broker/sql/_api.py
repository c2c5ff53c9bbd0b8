"""``compile_filter`` and ``compile_action``: text in, a compiled object out, once per rule."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from ._compiler import Evaluator, Statement, compile_action_tree, compile_filter_tree, normalize_parameters, parse
from .errors import FilterEvaluationError, InvalidFilterError

__all__ = ["CompiledAction", "CompiledFilter", "compile_action", "compile_filter"]


def _check_text(expression: object, kind: str) -> str:
    if not isinstance(expression, str):
        raise InvalidFilterError(
            repr(expression), f"the expression must be a string, not {type(expression).__name__}", kind=kind
        )
    return expression


def _annotate(error: FilterEvaluationError, expression: str) -> None:
    if error.expression is None:
        error.expression = expression
        error.details["expression"] = expression


def _unexpected(error: Exception, expression: str) -> FilterEvaluationError:
    """Any other failure while evaluating: one odd message must not stop the others."""
    return FilterEvaluationError(f"{type(error).__name__}: {error}", expression=expression)


class CompiledFilter:
    """A SQL filter compiled to closures. ``matches`` is True only when the condition is TRUE (not unknown)."""

    __slots__ = ("_evaluate", "expression", "parameters")

    def __init__(self, expression: str, parameters: Mapping[str, Any], evaluate: Evaluator) -> None:
        self.expression = expression
        self.parameters = dict(parameters)
        self._evaluate = evaluate

    def evaluate(self, system: Mapping[str, Any], user: Mapping[str, Any]) -> bool | None:
        """The three-valued result: True, False, or None for unknown. Raises FilterEvaluationError."""
        try:
            result: bool | None = self._evaluate(system, user)
        except FilterEvaluationError as error:
            _annotate(error, self.expression)
            raise
        except Exception as error:
            raise _unexpected(error, self.expression) from error
        return result

    def matches(self, system: Mapping[str, Any], user: Mapping[str, Any]) -> bool:
        """Whether the message is selected. Raises FilterEvaluationError (dead-letter it, or drop it)."""
        try:
            return self._evaluate(system, user) is True
        except FilterEvaluationError as error:
            _annotate(error, self.expression)
            raise
        except Exception as error:
            raise _unexpected(error, self.expression) from error

    def __repr__(self) -> str:
        return f"CompiledFilter({self.expression!r})"


class CompiledAction:
    """A SQL rule action compiled to closures; ``apply`` runs its SET/REMOVE statements in order, all or nothing."""

    __slots__ = ("_statements", "expression", "parameters")

    def __init__(self, expression: str, parameters: Mapping[str, Any], statements: list[Statement]) -> None:
        self.expression = expression
        self.parameters = dict(parameters)
        self._statements = tuple(statements)

    def apply(self, system: MutableMapping[str, Any], user: MutableMapping[str, Any]) -> None:
        """Mutate ``system`` and ``user`` in place. On FilterEvaluationError both are left as they were."""
        statements = self._statements
        if len(statements) == 1:
            try:
                statements[0](system, user)
            except FilterEvaluationError as error:
                _annotate(error, self.expression)
                raise
            except Exception as error:
                raise _unexpected(error, self.expression) from error
            return
        saved_system, saved_user = dict(system), dict(user)
        try:
            for statement in statements:
                statement(system, user)
        except Exception as error:
            system.clear()
            system.update(saved_system)
            user.clear()
            user.update(saved_user)
            if isinstance(error, FilterEvaluationError):
                _annotate(error, self.expression)
                raise
            raise _unexpected(error, self.expression) from error

    def __repr__(self) -> str:
        return f"CompiledAction({self.expression!r})"


def compile_filter(expression: str, parameters: Mapping[str, Any] | None = None) -> CompiledFilter:
    """Parse and compile a Service Bus SQL filter. Raises InvalidFilterError (with line and column) when malformed."""
    text = _check_text(expression, "filter")
    normalized = normalize_parameters(parameters, text, "filter")
    tree = parse(text, "filter", "filter")
    return CompiledFilter(text, dict(parameters or {}), compile_filter_tree(text, tree, normalized))


def compile_action(expression: str, parameters: Mapping[str, Any] | None = None) -> CompiledAction:
    """Parse and compile a Service Bus SQL rule action (``SET p = expr``, ``REMOVE p``; separated by ; or ,)."""
    text = _check_text(expression, "action")
    normalized = normalize_parameters(parameters, text, "action")
    tree = parse(text, "action", "action")
    return CompiledAction(text, dict(parameters or {}), compile_action_tree(text, tree, normalized))
