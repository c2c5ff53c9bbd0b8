"""Publishing to a topic with 1, 10 and 100 subscriptions (correlation and SQL filters) against a plain queue send,
one SQL rule evaluation, and receive cost on a subscription at depth; all on the engine, in the same run.

Run: python benchmarks/topics.py [--messages N] [--deep N]
Each subscription ``s<i>`` filters on ``region = r<i>``, and messages cycle through the regions, so each publish
is delivered to one subscription and evaluated by all of them (the realistic routing case); the "all match" rows
give every subscription a copy. Targets (issue 11): one SQL rule evaluation at most a few microseconds; a
100-subscription correlation-filtered publish at most 20x a queue send; subscription receive as flat in depth as a
queue's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from queue_runtime import CorrelationFilter, RuleProperties, SqlFilter
from queue_runtime.broker import Broker, BrokerMessage, subscription_path
from queue_runtime.broker.rules import CompiledRule, compile_rule


def per_call_us(count: int, call: Callable[[int], None], repeats: int = 5) -> float:
    """Best of ``repeats`` runs, in microseconds per call (the least disturbed run on a shared machine)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(count):
            call(i)
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def queue_send(count: int) -> float:
    broker = Broker()
    broker.create_queue("q")

    def send(i: int) -> None:
        broker.send("q", [BrokerMessage(b"payload", application_properties={"region": f"r{i % 100}"})])
        if i % 1000 == 999:
            broker.purge("q")

    return per_call_us(count, send)


def topic_publish(count: int, subscriptions: int, kind: str, *, all_match: bool = False) -> float:
    broker = Broker()
    broker.create_topic("t")
    for n in range(subscriptions):
        if all_match:
            rule_filter: CorrelationFilter | SqlFilter = (
                CorrelationFilter(properties={"kind": "order"}) if kind == "correlation"
                else SqlFilter(expression="kind = 'order'")
            )
        elif kind == "correlation":
            rule_filter = CorrelationFilter(properties={"region": f"r{n}"})
        else:
            rule_filter = SqlFilter(expression=f"region = 'r{n}'")
        broker.create_subscription("t", f"s{n}", rule=RuleProperties(name="route", filter=rule_filter))
    paths = [subscription_path("t", f"s{n}") for n in range(subscriptions)]

    def publish(i: int) -> None:
        props = {"region": f"r{i % subscriptions}", "kind": "order"}
        broker.send("t", [BrokerMessage(b"payload", application_properties=props)])
        if i % 1000 == 999:
            for path in paths:
                broker.purge(path)

    return per_call_us(count, publish)


def sql_evaluation(count: int) -> float:
    rule = compile_rule(RuleProperties(filter=SqlFilter(expression="region = 'eu' AND quantity > 10")))
    message = BrokerMessage(b"x", application_properties={"region": "eu", "quantity": 12})

    def evaluate(i: int) -> None:
        rule.matches(CompiledRule.context(message))

    return per_call_us(count, evaluate)


def receive_at_depth(depth: int, *, subscription: bool, samples: int = 2000) -> tuple[float, float]:
    broker = Broker()
    if subscription:
        broker.create_topic("t")
        broker.create_subscription("t", "s")
        send_to, path = "t", subscription_path("t", "s")
    else:
        broker.create_queue("q")
        send_to = path = "q"
    for start in range(0, depth, 1000):
        broker.send(send_to, [BrokerMessage(b"payload") for _ in range(min(1000, depth - start))])
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        [message] = broker.receive(path, 1)
        assert message.lock_token is not None
        broker.complete(path, message.lock_token)
        timings.append((time.perf_counter() - started) * 1e6)
        broker.send(send_to, [BrokerMessage(b"payload")])
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--deep", type=int, default=1_000_000)
    args = parser.parse_args()

    baseline = queue_send(args.messages)
    print("| publish (engine, one message) | µs per send | vs queue send |")
    print("|---|---:|---:|")
    print(f"| queue send (baseline) | {baseline:.2f} | 1.0x |")
    for kind in ("correlation", "sql"):
        for subscriptions in (1, 10, 100):
            cost = topic_publish(args.messages, subscriptions, kind)
            print(f"| topic, {subscriptions} subscriptions, {kind} filters, 1 matches | {cost:.2f} | "
                  f"{cost / baseline:.1f}x |")
    for kind in ("correlation", "sql"):
        cost = topic_publish(max(args.messages // 10, 200), 100, kind, all_match=True)
        print(f"| topic, 100 subscriptions, {kind} filters, all 100 match | {cost:.2f} | {cost / baseline:.1f}x |")
    print()
    print(f"one compiled SQL rule evaluation (`region = 'eu' AND quantity > 10`): "
          f"{sql_evaluation(args.messages * 20):.2f} µs")
    print()
    print("| receive + complete at depth | p50 µs | p99 µs |")
    print("|---|---:|---:|")
    for subscription in (False, True):
        for depth in (1000, args.deep):
            p50, p99 = receive_at_depth(depth, subscription=subscription)
            where = "subscription" if subscription else "queue"
            print(f"| {where}, depth {depth:,} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
