"""Queues, topics, subscriptions and rules declared in an entity file (YAML or JSON), created at start and again
after each reset.

Two shapes are accepted for every list (a list of entries with ``name``, or a mapping from name to options)::

    queues:                         queues:
      - name: orders                  orders:
        requires_session: true          requires_session: true
        lock_duration: 60               lock_duration: PT1M

    topics:
      events:
        duplicate_detection_window: 60
        subscriptions:
          audit: {}                                   # gets the $Default rule (every message)
          red:
            max_delivery_count: 3
            forward_to: orders                        # a queue or topic of this file (or already there)
            rules:
              red-only:
                sql: "color = 'red'"                  # or correlation: {subject: red, properties: {...}}
                action: "SET routed = 'yes'"          # optional SqlRuleAction

Durations are seconds or ISO 8601 (``PT30S``); option names are those of :class:`queue_runtime.QueueOptions`,
:class:`queue_runtime.TopicOptions` and :class:`queue_runtime.SubscriptionOptions`. A rule may also be given in
the REST API's form (``filter: {kind: sql, expression: ...}``). Forwarding is set after every entity exists, so
entities may forward to each other in any order.

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

from queue_runtime import (
    CorrelationFilter,
    QueueName,
    QueueOptions,
    RuleProperties,
    SqlFilter,
    SqlRuleAction,
    SubscriptionName,
    SubscriptionOptions,
    TopicOptions,
)
from queue_runtime._validation import plain_errors
from queue_runtime.broker import Broker
from queue_runtime.broker.naming import check_queue_name
from queue_runtime.errors import ConfigurationError, QueueError

from .sas import RIGHTS, SasRule

__all__ = ["EntityDeclarations", "load_entity_file"]


_NO_FORWARDING = {"forward_to": None, "forward_dead_lettered_messages_to": None}


@dataclass(frozen=True, slots=True)
class SubscriptionDeclaration:
    options: SubscriptionOptions
    rules: tuple[RuleProperties, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicDeclaration:
    options: TopicOptions
    subscriptions: dict[str, SubscriptionDeclaration] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntityDeclarations:
    queues: dict[str, QueueOptions] = field(default_factory=dict)
    topics: dict[str, TopicDeclaration] = field(default_factory=dict)
    source: str = "entities"
    authorization_rules: tuple[SasRule, ...] = ()

    def apply(self, broker: Broker) -> None:
        try:
            self._apply(broker)
        except QueueError as exc:
            raise ConfigurationError(f"{self.source}: {exc.message}") from exc

    def _apply(self, broker: Broker) -> None:
        # Everything first without forwarding, then forwarding: targets may be declared later in the file.
        created_queues = []
        for name, options in self.queues.items():
            if not broker.has_queue(name):
                broker.create_queue(name, options.model_copy(update=_NO_FORWARDING))
                created_queues.append(name)
        created_subscriptions = []
        for topic, declared in self.topics.items():
            if not broker.has_topic(topic):
                broker.create_topic(topic, declared.options)
            existing = set(broker.subscription_names(topic))
            for sub, spec in declared.subscriptions.items():
                if sub in existing:
                    continue
                first = spec.rules[0] if spec.rules else None
                broker.create_subscription(topic, sub, spec.options.model_copy(update=_NO_FORWARDING), first)
                for rule in spec.rules[1:]:
                    broker.create_rule(topic, sub, rule)
                created_subscriptions.append((topic, sub, spec.options))
        for name in created_queues:
            options = self.queues[name]
            if options.forward_to or options.forward_dead_lettered_messages_to:
                broker.update_queue(name, options)
        for topic, sub, sub_options in created_subscriptions:
            if sub_options.forward_to or sub_options.forward_dead_lettered_messages_to:
                broker.update_subscription(topic, sub, sub_options)


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


def _named(raw: Any, what: str, source: str) -> list[tuple[Any, dict[str, Any]]]:
    """Entries of a list-with-names or a name-to-options mapping, as (name, options) pairs."""
    items: list[tuple[Any, dict[str, Any]]] = []
    if raw is None:
        return items
    if isinstance(raw, dict):
        for name, options in raw.items():
            if options is not None and not isinstance(options, dict):
                raise ConfigurationError(f"{source}: {what} {name!r} must map option names to values")
            items.append((name, dict(options or {})))
    elif isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ConfigurationError(f"{source}: each {what} in the list needs a 'name'")
            options = dict(entry)
            items.append((options.pop("name"), options))
    else:
        raise ConfigurationError(f"{source}: '{what}s' must be a list or a mapping")
    return items


def _rule(name: Any, spec: dict[str, Any]) -> RuleProperties:
    values = dict(spec)
    values["name"] = str(name)
    if "sql" in values:
        values["filter"] = SqlFilter(expression=str(values.pop("sql")), parameters=values.pop("parameters", {}))
    elif "correlation" in values:
        values["filter"] = CorrelationFilter.model_validate(values.pop("correlation") or {})
    if isinstance(values.get("action"), str):
        values["action"] = SqlRuleAction(expression=values["action"])
    return RuleProperties.model_validate(values)


def parse_entities(data: Any, *, source: str = "entities") -> EntityDeclarations:
    if data is None:
        return EntityDeclarations(source=source)
    if not isinstance(data, dict) or set(data) - {"queues", "topics", "authorization_rules"}:
        raise ConfigurationError(
            f"{source}: expected a mapping with the keys 'queues', 'topics' and/or 'authorization_rules'"
        )
    queues: dict[str, QueueOptions] = {}
    for name, options in _named(data.get("queues"), "queue", source):
        if str(name) in queues:
            raise ConfigurationError(f"{source}: queue {str(name)!r} is declared twice")
        try:
            check_queue_name(str(name))  # the engine's one rule, as for every other way a queue is made
            queues[str(name)] = QueueOptions.model_validate(options)
        except QueueError as exc:
            raise ConfigurationError(f"{source}: queue {str(name)!r}: {exc.message}") from exc
        except PydanticValidationError as exc:
            raise ConfigurationError(f"{source}: queue {str(name)!r}: {plain_errors(exc)}") from exc
    topics: dict[str, TopicDeclaration] = {}
    for name, options in _named(data.get("topics"), "topic", source):
        where = f"topic {name!r}"
        try:
            topic = QueueName(str(name))
            raw_subscriptions = options.pop("subscriptions", None)
            subscriptions: dict[str, SubscriptionDeclaration] = {}
            for sub_name, sub_options in _named(raw_subscriptions, "subscription", f"{source}: {where}"):
                where = f"subscription {topic}/Subscriptions/{sub_name}"
                sub = SubscriptionName(topic, str(sub_name))
                rules = tuple(_rule(r, spec) for r, spec in _named(sub_options.pop("rules", None), "rule", source))
                subscriptions[sub.subscription] = SubscriptionDeclaration(
                    SubscriptionOptions.model_validate(sub_options), rules
                )
            topics[topic] = TopicDeclaration(TopicOptions.model_validate(options), subscriptions)
        except QueueError as exc:
            raise ConfigurationError(f"{source}: {where}: {exc.message}") from exc
        except PydanticValidationError as exc:
            raise ConfigurationError(f"{source}: {where}: {plain_errors(exc)}") from exc
    return EntityDeclarations(
        queues, topics, source, authorization_rules=_rules(data.get("authorization_rules") or [], source)
    )


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
