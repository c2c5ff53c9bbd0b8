"""In-memory provider throughput against a plain asyncio.Queue, and receive cost at queue depth.

Run: python benchmarks/inmemory_throughput.py [--messages N] [--deep N]
Prints a table. The baseline (asyncio.Queue put/get, no locks, no settlement) runs in the same process, the same
run, so the ratio is what our features cost on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable

from queue_runtime import InMemoryConfig, Message, QueueClient, QueueConfig
from queue_runtime.broker import Broker, BrokerMessage
from queue_runtime.broker.tokens import new_lock_token
from queue_runtime.providers.memory import InMemoryProvider


async def rate(count: int, body: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await body()
    return count / (time.perf_counter() - started)


async def asyncio_queue_loop(count: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def run() -> None:
        for _ in range(count):
            await queue.put(b"payload")
            await queue.get()
            queue.task_done()

    return await rate(count, run)


async def client_single(client: QueueClient, count: int) -> float:
    async def run() -> None:
        for _ in range(count):
            await client.send_message("bench", Message(b"payload"))
            received = await client.receive_message("bench", 0)
            assert received is not None
            await client.complete_message(received)

    return await rate(count, run)


async def client_batched(client: QueueClient, count: int, batch: int) -> float:
    messages = [Message(b"payload") for _ in range(batch)]

    async def run() -> None:
        for _ in range(count // batch):
            await client.send_messages("bench", messages)
            received = await client.receive_messages("bench", batch, 0)
            assert len(received) == batch
            assert not any(await client.complete_messages(received))

    return await rate(count - count % batch, run)


def receive_latency_at_depth(depth: int, samples: int = 2000) -> tuple[float, float]:
    """Microseconds per receive+complete on the engine with ``depth`` messages waiting (p50, p99)."""
    broker = Broker()
    broker.create_queue("deep")
    chunk = 1000
    for start in range(0, depth, chunk):
        broker.send("deep", [BrokerMessage(body=b"payload") for _ in range(min(chunk, depth - start))])
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        [message] = broker.receive("deep", 1)
        assert message.lock_token is not None
        broker.complete("deep", message.lock_token)
        timings.append((time.perf_counter() - started) * 1e6)
        broker.send("deep", [BrokerMessage(body=b"payload")])  # keep the depth constant
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99)]


def lock_token_costs(count: int = 200_000) -> list[tuple[str, float]]:
    """Nanoseconds per lock token: the old guessable scheme (per-entity prefix plus a counter) is the baseline."""
    prefix, counter = str(uuid.uuid4())[:24], itertools.count(secrets.randbits(40))

    def guessable() -> str:
        return f"{prefix}{next(counter) & 0xFFFF_FFFF_FFFF:012x}"

    def uuid4() -> str:
        return str(uuid.uuid4())

    candidates = [("prefix + counter (old, guessable; baseline)", guessable), ("str(uuid.uuid4())", uuid4),
                  ("new_lock_token (random, batched urandom)", new_lock_token)]
    return [(name, min(timeit.repeat(fn, number=count, repeat=5)) / count * 1e9) for name, fn in candidates]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--deep", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.messages

    provider = InMemoryProvider(InMemoryConfig())
    client = QueueClient(provider, QueueConfig())
    await client.create_queue("bench")
    baseline = await asyncio_queue_loop(count)
    single = await client_single(client, count)
    batched = await client_batched(client, count, 100)
    await client.aclose()

    rows = [
        ("asyncio.Queue put/get (baseline)", baseline, 1.0),
        ("QueueClient send/receive/complete, 1 at a time", single, single / baseline),
        ("QueueClient batches of 100", batched, batched / baseline),
    ]
    print(f"{'round trip':<50} {'msgs/s':>12} {'vs baseline':>12}")
    for name, value, ratio in rows:
        print(f"{name:<50} {value:>12,.0f} {ratio:>11.3f}x")

    print()
    print(f"{'engine receive+complete at depth':<50} {'p50 us':>12} {'p99 us':>12}")
    shallow = receive_latency_at_depth(1_000)
    deep = receive_latency_at_depth(args.deep)
    print(f"{'depth 1,000':<50} {shallow[0]:>12.1f} {shallow[1]:>12.1f}")
    print(f"{f'depth {args.deep:,}':<50} {deep[0]:>12.1f} {deep[1]:>12.1f}")
    print(f"{'p50 ratio deep/shallow':<50} {deep[0] / shallow[0]:>12.2f}")

    print()
    costs = lock_token_costs()
    print(f"{'lock token':<50} {'ns/token':>12} {'vs baseline':>12}")
    for name, ns in costs:
        print(f"{name:<50} {ns:>12.0f} {ns / costs[0][1]:>11.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
