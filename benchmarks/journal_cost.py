"""What the operation journal costs: an engine round trip (send, receive, complete) with the journal on and off.

Run: python benchmarks/journal_cost.py [--rounds N] [--repeats N]
Both brokers run in the same process and the same run, interleaved in many short rounds; each row is the best
(minimum) round, the usual estimator on a shared, noisy machine (the median is printed too). The ratio is the
journal's cost on this machine; the target is under 10% of a round trip.
"""

from __future__ import annotations

import argparse
import statistics
import time

from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.broker.journal import Journal, acting_client


def round_trips(broker: Broker, rounds: int) -> float:
    """Microseconds per send + receive + complete of one message."""
    started = time.perf_counter()
    for _ in range(rounds):
        broker.send("bench", [BrokerMessage(body=b"payload", message_id="m")])
        [message] = broker.receive("bench", 1)
        assert message.lock_token is not None
        broker.complete("bench", message.lock_token)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    brokers = {"journal off": Broker(journal=Journal(enabled=False)), "journal on": Broker(journal=Journal(10_000))}
    for broker in brokers.values():
        broker.create_queue("bench")
        round_trips(broker, 2000)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in brokers}
    with acting_client("bench:client"):
        for _ in range(args.repeats):
            for name, broker in brokers.items():
                samples[name].append(round_trips(broker, args.rounds))
    off, off_median = min(samples["journal off"]), statistics.median(samples["journal off"])
    print(f"{'engine round trip (send+receive+complete)':<44} {'best us':>8} {'vs off':>8} {'median':>8} {'vs off':>8}")
    for name, values in samples.items():
        best, median = min(values), statistics.median(values)
        print(f"{name:<44} {best:>8.2f} {(best / off - 1) * 100:>+7.1f}% {median:>8.2f} "
              f"{(median / off_median - 1) * 100:>+7.1f}%")
    print(f"journal entries recorded: {brokers['journal on'].journal.recorded}, "
          f"kept: {len(brokers['journal on'].journal.entries())}, dropped: {brokers['journal on'].journal.dropped}")


if __name__ == "__main__":
    main()
