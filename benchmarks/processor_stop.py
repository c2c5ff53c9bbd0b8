"""How long leaving ``async with QueueProcessor(...)`` takes, against the receive timeout it used to wait out.

Run: python benchmarks/processor_stop.py [--runs N]
Prints a table. The baseline is the worker's ``receive_timeout`` (1 s by default): before stops were prompt, every
exit waited for the idle receive to time out, so the baseline is what each stop cost then.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from queue_runtime import Message, ProcessorOptions, QueueClientFactory, QueueProcessor, ReceivedMessage


async def measure(runs: int, sessions: bool) -> list[float]:
    async with await QueueClientFactory.create_client("memory://") as client:
        await client.create_queue("q", requires_session=sessions)

        times = []
        for _ in range(runs):
            handled = asyncio.Event()

            async def handler(message: ReceivedMessage, handled: asyncio.Event = handled) -> None:
                handled.set()

            await client.send_message("q", Message(b"x", session_id="s" if sessions else None))
            processor = QueueProcessor(client, "q", handler, ProcessorOptions())
            await processor.start()
            await handled.wait()
            await asyncio.sleep(0.01)  # let it settle the message and go back to an idle receive
            started = time.perf_counter()
            await processor.stop()
            times.append(time.perf_counter() - started)
        return times


async def main(runs: int) -> None:
    baseline = ProcessorOptions().receive_timeout.total_seconds()
    print(f"{'queue':<10} {'runs':>5} {'median stop':>12} {'max stop':>10} {'baseline (receive timeout)':>28}")
    for sessions in (False, True):
        times = await measure(runs, sessions)
        print(f"{'sessions' if sessions else 'plain':<10} {runs:>5} {statistics.median(times) * 1000:>10.2f}ms "
              f"{max(times) * 1000:>8.2f}ms {baseline * 1000:>26.0f}ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
