"""Topics, subscriptions and rules in the entity file: parsed, created, forwarding in any order, errors named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from queue_emulator.entities import load_entity_file, parse_entities

from queue_runtime import CorrelationFilter, SqlFilter, TrueFilter
from queue_runtime.broker import Broker, BrokerMessage, ManualClock, subscription_path
from queue_runtime.errors import ConfigurationError

FILE = """
topics:
  events:
    duplicate_detection_window: PT1M
    subscriptions:
      audit: {}
      red:
        max_delivery_count: 3
        forward_to: red-orders          # declared below: forwarding is set once everything exists
        rules:
          red-only:
            sql: "color = 'red'"
            action: "SET routed = 'yes'"
          vip:
            correlation: {properties: {tier: gold}}
queues:
  - name: red-orders
"""


def test_entity_file_with_topics(tmp_path: Path) -> None:
    path = tmp_path / "entities.yaml"
    path.write_text(FILE)
    declared = load_entity_file(path)
    broker = Broker(ManualClock())
    declared.apply(broker)
    declared.apply(broker)  # again after a reset or on a broker that has them: harmless
    assert broker.subscription_names("events") == ["audit", "red"]
    assert [r.filter for r in broker.rules("events", "audit")] == [TrueFilter()]
    red = broker.rules("events", "red")
    assert [type(r.filter) for r in red] == [SqlFilter, CorrelationFilter]
    assert broker.get_subscription("events", "red").options.forward_to == "red-orders"
    assert broker.get_topic("events").options.duplicate_detection_window is not None
    broker.send("events", [BrokerMessage(b"r", application_properties={"color": "red"})])
    (forwarded,) = broker.receive("red-orders", 5)
    assert forwarded.application_properties["routed"] == "yes"
    assert [m.body for m in broker.receive(subscription_path("events", "audit"), 5)] == [b"r"]


@pytest.mark.parametrize(
    ("data", "found"),
    [
        ({"topics": {"t": {"subscriptions": {"a/b": {}}}}}, "a/b"),
        ({"topics": {"t": {"subscriptions": {"s": {"max_delivery_count": 0}}}}}, "max_delivery_count"),
        ({"topics": {"t": {"nonsense": 1}}}, "nonsense"),
        ({"topics": ["no-name"]}, "needs a 'name'"),
        ({"topics": {"t": {"subscriptions": {"s": {"rules": {"r": {"filter": {"kind": "x"}}}}}}}}, "filter"),
    ],
)
def test_bad_declarations_are_named(data: object, found: str) -> None:
    with pytest.raises(ConfigurationError, match="entities") as caught:
        parse_entities(yaml.safe_load(yaml.safe_dump(data)))
    assert found in caught.value.message


def test_a_malformed_filter_or_missing_target_fails_at_start() -> None:
    bad_sql = parse_entities({"topics": {"t": {"subscriptions": {"s": {"rules": {"r": {"sql": "a = = 1"}}}}}}})
    with pytest.raises(ConfigurationError, match="entities"):
        bad_sql.apply(Broker(ManualClock()))
    missing = parse_entities({"topics": {"t": {"subscriptions": {"s": {"forward_to": "nowhere"}}}}})
    with pytest.raises(ConfigurationError, match="nowhere"):
        missing.apply(Broker(ManualClock()))


def test_the_topics_page_entity_file_works(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "topics.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", page, re.DOTALL)
    path = tmp_path / "entities.yaml"
    path.write_text(block)
    broker = Broker(ManualClock())
    load_entity_file(path).apply(broker)
    assert broker.subscription_names("events") == ["audit", "red"]
    assert [r.name for r in broker.rules("events", "red")] == ["red-only", "any-filter"]
    broker.send("events", [BrokerMessage(b"r", application_properties={"color": "red"})])
    assert broker.receive("red-orders", 5)[0].application_properties["routed"] == "yes"
