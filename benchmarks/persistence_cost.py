"""What the emulator's data directory costs per engine operation: the durable engine (SQLite, WAL) with
``sync="normal"`` and ``sync="full"`` against the in-memory engine, and how long opening a full directory takes.

Run: python benchmarks/persistence_cost.py [--rounds N] [--repeats N] [--full-fraction F] [--open-messages N]
                                           [--dir PATH]
The three brokers run in the same process and the same run, interleaved in many short rounds; each row is the best
(minimum) round, the usual estimator on a shared, noisy machine (the median is printed too), and the ratio is
against the in-memory engine. Every public call on a durable broker is one SQLite transaction committed before it
returns, so a row that makes more calls pays more commits: a round trip is three (send, receive, complete), a batch
send of 100 is one, receive 100 + complete each is 101, receive-and-delete of 100 is one. ``sync="full"`` fsyncs
every commit, so its rounds are ``--full-fraction`` of the others' (default a tenth; the output says so); the
numbers are per operation or per message either way. The last table is the time ``open_durable_broker`` takes to
load a directory holding ``--open-messages`` small messages (checked row by row), which the in-memory engine has no
counterpart for. The directories are temporary, under ``--dir`` (default: the system's temporary directory): on a
tmpfs an fsync costs nothing and the ``full`` rows would mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from queue_emulator.storage import open_durable_broker

from queue_runtime.broker import Broker, BrokerMessage

QUEUE = "bench"
BATCH = 100
LARGE_BODY = b"x" * 65536


def round_trips(broker: Broker, rounds: int, body: bytes = b"payload") -> float:
    """Microseconds per send + receive + complete of one message."""
    started = time.perf_counter()
    for _ in range(rounds):
        broker.send(QUEUE, [BrokerMessage(body=body, message_id="m")])
        [message] = broker.receive(QUEUE, 1)
        assert message.lock_token is not None
        broker.complete(QUEUE, message.lock_token)
    return (time.perf_counter() - started) / rounds * 1e6


def batches(broker: Broker, rounds: int) -> tuple[float, float, float]:
    """Microseconds per message: batch send of 100, receive 100 + complete each, receive-and-delete 100."""
    sending = settling = deleting = 0.0
    for round_ in range(rounds):
        for delete in (False, True):
            batch = [BrokerMessage(body=b"payload", message_id=f"{round_}-{delete}-{i}") for i in range(BATCH)]
            started = time.perf_counter()
            broker.send(QUEUE, batch)
            sending += time.perf_counter() - started
            started = time.perf_counter()
            if delete:
                received = broker.receive(QUEUE, BATCH, delete=True)
                deleting += time.perf_counter() - started
            else:
                received = broker.receive(QUEUE, BATCH)
                for message in received:
                    assert message.lock_token is not None
                    broker.complete(QUEUE, message.lock_token)
                settling += time.perf_counter() - started
            assert len(received) == BATCH
    messages = rounds * BATCH
    return sending / (2 * messages) * 1e6, settling / messages * 1e6, deleting / messages * 1e6


ROWS = (
    "round trip x1 (send+receive+complete), per round trip",
    "batch send of 100, per message",
    "receive 100 + complete each, per message",
    "receive-and-delete 100, per message",
    "64 KiB body round trip x1, per round trip",
)


def measure(broker: Broker, rounds: int) -> list[float]:
    """One short round of every row, in the order of ROWS."""
    single = round_trips(broker, rounds)
    send, settle, delete = batches(broker, max(1, rounds // 50))
    large = round_trips(broker, max(1, rounds // 5), LARGE_BODY)
    return [single, send, settle, delete, large]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def open_times(parent: str | None, messages: int, repeats: int) -> tuple[float, list[float], list[float]]:
    """Seconds to fill a directory with ``messages`` messages, then to open it (``repeats`` times) and to open an
    empty one."""
    with tempfile.TemporaryDirectory(dir=parent) as full, tempfile.TemporaryDirectory(dir=parent) as empty:
        broker = open_durable_broker(Path(full), sync="normal")
        broker.create_queue(QUEUE)
        started = time.perf_counter()
        for first in range(0, messages, 1000):
            broker.send(QUEUE, [BrokerMessage(body=b"payload", message_id=str(i))
                                for i in range(first, min(messages, first + 1000))])
        filled = time.perf_counter() - started
        broker.close()
        loaded = [timed_open(Path(full), messages) for _ in range(repeats)]
        nothing = [timed_open(Path(empty), 0) for _ in range(repeats)]
    return filled, loaded, nothing


def timed_open(directory: Path, expected: int) -> float:
    """Seconds ``open_durable_broker`` takes on ``directory``, which must hold ``expected`` messages."""
    started = time.perf_counter()
    broker = open_durable_broker(directory, sync="normal")
    took = time.perf_counter() - started
    if expected:
        assert broker.get_queue(QUEUE).active_count == expected
    broker.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=500, help="round trips per round (batches: a fiftieth)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--full-fraction", type=float, default=0.1, help="sync=full's rounds, as a fraction")
    parser.add_argument("--open-messages", type=int, default=100_000)
    parser.add_argument("--open-repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the temporary data directories go")
    args = parser.parse_args()
    full_rounds = max(5, int(args.rounds * args.full_fraction))
    rounds = {"in-memory": args.rounds, "data dir, sync=normal": args.rounds, "data dir, sync=full": full_rounds}
    location = args.dir or tempfile.gettempdir()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"data directories under {location}; load average before: {load}")
    print(f"{args.repeats} interleaved repeats; rounds of {args.rounds} round trips ({max(1, args.rounds // 50)} "
          f"batches of {BATCH}, {max(1, args.rounds // 5)} 64 KiB round trips); sync=full: {full_rounds} round trips "
          f"({max(1, full_rounds // 50)} batch(es), {max(1, full_rounds // 5)} 64 KiB round trips), as every commit "
          "fsyncs\n")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as normal_dir, tempfile.TemporaryDirectory(dir=args.dir) as full_dir:
        normal = open_durable_broker(Path(normal_dir), sync="normal")
        full = open_durable_broker(Path(full_dir), sync="full")
        brokers: dict[str, Broker] = {"in-memory": Broker(), "data dir, sync=normal": normal,
                                      "data dir, sync=full": full}
        try:
            for name, broker in brokers.items():
                broker.create_queue(QUEUE)
                measure(broker, rounds[name])  # warm up
            samples: dict[str, list[list[float]]] = {name: [] for name in brokers}
            for _ in range(args.repeats):
                for name, broker in brokers.items():
                    samples[name].append(measure(broker, rounds[name]))
        finally:
            normal.close()
            full.close()
    operations = time.perf_counter() - started

    print(f"{'engine operation':<56} {'engine':<22} {'best us':>9} {'vs mem':>8} {'median':>9} {'vs mem':>8}")
    for row, label in enumerate(ROWS):
        base = min(sample[row] for sample in samples["in-memory"])
        base_median = statistics.median(sample[row] for sample in samples["in-memory"])
        for name, values in samples.items():
            best = min(sample[row] for sample in values)
            median = statistics.median(sample[row] for sample in values)
            print(f"{label:<56} {name:<22} {best:>9.2f} {best / base:>7.1f}x {median:>9.2f} "
                  f"{median / base_median:>7.1f}x")
        print()

    started = time.perf_counter()
    filled, loaded, nothing = open_times(args.dir, args.open_messages, args.open_repeats)
    opening = time.perf_counter() - started
    count = args.open_messages
    print(f"{'open_durable_broker (sync=normal)':<56} {'best s':>9} {'median s':>9} {'msgs/s':>11}")
    print(f"{'empty directory':<56} {min(nothing):>9.4f} {statistics.median(nothing):>9.4f} {'-':>11}")
    print(f"{f'{count:,} messages of 7 bytes, one queue':<56} {min(loaded):>9.3f} {statistics.median(loaded):>9.3f} "
          f"{count / min(loaded):>11,.0f}")
    print("in-memory engine: no counterpart (a new Broker() starts empty; nothing is kept)")
    print(f"\nfilling {count:,} messages (batches of 1,000, sync=normal): {filled:.2f} s, {count / filled:,.0f} msgs/s")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"elapsed: operations {operations:.1f} s, open {opening:.1f} s; load average after: {load}")


if __name__ == "__main__":
    main()
