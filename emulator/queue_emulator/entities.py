"""Queues declared in an entity file (YAML or JSON), created at start and again after each reset.

Two shapes are accepted::

    queues:                         queues:
      - name: orders                  orders:
        requires_session: true          requires_session: true
        lock_duration: 60               lock_duration: PT1M

Durations are seconds or ISO 8601 (``PT30S``); option names are those of :class:`queue_runtime.QueueOptions`.

Shared access authorization rules may be declared beside the queues (a key inline, or better in a file)::

    authorization_rules:
      - name: listener
        rights: [Listen]
        key_file: /run/secrets/listener-key
      - name: sender
        rights: [Send]
        key: s3cret
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from queue_runtime import QueueOptions
from queue_runtime._validation import plain_errors
from queue_runtime.broker import Broker
from queue_runtime.broker.naming import check_queue_name
from queue_runtime.errors import ConfigurationError, QueueError

from .sas import RIGHTS, SasRule

__all__ = ["EntityDeclarations", "load_entity_file"]


@dataclass(frozen=True, slots=True)
class EntityDeclarations:
    queues: dict[str, QueueOptions] = field(default_factory=dict)
    authorization_rules: tuple[SasRule, ...] = ()

    def apply(self, broker: Broker) -> None:
        for name, options in self.queues.items():
            if not broker.has_queue(name):
                broker.create_queue(name, options)


def load_entity_file(path: Path | None) -> EntityDeclarations:
    if path is None:
        return EntityDeclarations()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read entity file {str(path)!r}: {exc.strerror}") from exc
    source = str(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        else:
            data = yaml.load(text, Loader=_StrictLoader)
    except _Duplicate as exc:
        raise ConfigurationError(f"entity file {source!r}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"entity file {source!r} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except yaml.MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}: " if exc.problem_mark else ""
        raise ConfigurationError(f"entity file {source!r} is not valid YAML: {where}{exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"entity file {source!r} is not valid YAML: {exc}") from exc
    return parse_entities(data, source=f"entity file {source!r}")


class _Duplicate(Exception):
    """A key given twice in one mapping of the file."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Duplicate(f"{key!r} is declared twice")
        found[key] = value
    return found


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` keeps the last of two equal keys; an entity file must not say one queue twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise _Duplicate(f"line {line}: {key!r} is declared twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_entities(data: Any, *, source: str = "entities") -> EntityDeclarations:
    if data is None:
        return EntityDeclarations()
    if not isinstance(data, dict) or set(data) - {"queues", "authorization_rules"}:
        raise ConfigurationError(f"{source}: expected a mapping with the keys 'queues' and 'authorization_rules'")
    raw = data.get("queues") or []
    items: list[tuple[Any, Any]]
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ConfigurationError(f"{source}: each queue in the list needs a 'name'")
            options = dict(entry)
            items.append((options.pop("name"), options))
    else:
        raise ConfigurationError(f"{source}: 'queues' must be a list or a mapping")
    queues: dict[str, QueueOptions] = {}
    for name, options in items:
        if str(name) in queues:
            raise ConfigurationError(f"{source}: queue {str(name)!r} is declared twice")
        try:
            check_queue_name(str(name))  # the engine's one rule, as for every other way a queue is made
            queues[str(name)] = QueueOptions.model_validate(options or {})
        except QueueError as exc:
            raise ConfigurationError(f"{source}: queue {str(name)!r}: {exc.message}") from exc
        except PydanticValidationError as exc:
            raise ConfigurationError(f"{source}: queue {str(name)!r}: {plain_errors(exc)}") from exc
    return EntityDeclarations(queues, _rules(data.get("authorization_rules") or [], source))


def _rules(raw: Any, source: str) -> tuple[SasRule, ...]:
    if not isinstance(raw, list):
        raise ConfigurationError(f"{source}: 'authorization_rules' must be a list")
    rules: list[SasRule] = []
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or set(entry) - _RULE_KEYS:
            raise ConfigurationError(f"{source}: each authorization rule is a mapping of name, rights and key "
                                     "or key_file")
        name = entry["name"]
        if ("key" in entry) == ("key_file" in entry):
            raise ConfigurationError(f"{source}: authorization rule {name!r} needs exactly one of key and key_file")
        if "key_file" in entry:
            try:
                key = Path(str(entry["key_file"])).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(f"{source}: authorization rule {name!r}: cannot read key_file: "
                                         f"{exc.strerror}") from exc
        else:
            key = str(entry["key"])
        rights = entry.get("rights", list(RIGHTS))
        if isinstance(rights, str):
            rights = [part.strip() for part in rights.replace("+", ",").split(",")]
        if not key:
            raise ConfigurationError(f"{source}: authorization rule {name!r} has an empty key")
        try:
            rules.append(SasRule(name, SecretStr(key), frozenset(str(r).capitalize() for r in rights)))
        except ValueError as exc:
            raise ConfigurationError(f"{source}: {exc}") from exc
    return tuple(rules)


_RULE_KEYS = {"name", "rights", "key", "key_file"}
