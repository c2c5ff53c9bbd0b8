"""Service Bus's SQL filter and rule-action language, compiled once into Python closures.

    f = compile_filter("sys.Label = 'order' AND quantity > @min", parameters={"@min": 5})
    f.matches(system, user)          # system: lower-case Service Bus names; user: application properties
    a = compile_action("SET sys.Label = 'x'; REMOVE color")
    a.apply(system, user)            # mutates both mappings in place

See docs/filters.md for the language reference.
"""

from ._api import CompiledAction, CompiledFilter, compile_action, compile_filter
from ._properties import READ_ONLY_SYSTEM_PROPERTIES, SYSTEM_PROPERTIES
from .errors import FilterEvaluationError, InvalidFilterError

__all__ = [
    "READ_ONLY_SYSTEM_PROPERTIES",
    "SYSTEM_PROPERTIES",
    "CompiledAction",
    "CompiledFilter",
    "FilterEvaluationError",
    "InvalidFilterError",
    "compile_action",
    "compile_filter",
]
