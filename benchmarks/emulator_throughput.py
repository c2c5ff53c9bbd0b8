"""Throughput of the emulator through the ``emulator`` provider, with two references in the same run.

    .venv/bin/python benchmarks/emulator_throughput.py [--url http://127.0.0.1:8080] [--seconds 2.0]

Measures, at two backlogs (an almost empty queue, and 10,000 messages already waiting):
  send one at a time, send in batches of 100, the send/receive/complete round trip one at a time, and batched
  (100 sent, 100 received, 100 completed with one gathered ``complete`` = one batch request).
References: a no-op aiohttp handler hit by the same kind of aiohttp client (the physical limit per request),
and moto's SQS server (ThreadedMotoServer on loopback) driven by boto3 doing the same operations (batches of 10,
SQS's maximum). Each measurement runs for a bounded time, so the whole run stays well under two minutes.
Without --url the emulator and the no-op server are started as subprocesses (own process, own GIL).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiohttp import web

from queue_runtime import EmulatorConfig, Message, QueueName, QueueOptions
from queue_runtime.providers.emulator import EmulatorControl, EmulatorProvider

BACKLOG = 10_000
BATCH = 100
NOW = timedelta(0)


@dataclass
class Result:
    name: str
    backlog: str
    messages: int
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def request_cost_ms(self) -> float:
        return self.seconds / self.requests * 1000

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def measure(
    name: str, backlog: str, seconds: float, step: Callable[[], Awaitable[None]], messages: int, requests: int
) -> Result:
    for _ in range(20):  # warm up connections and code paths
        await step()
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        t0 = time.perf_counter()
        await step()
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 >= deadline:
            break
    elapsed = time.perf_counter() - started
    n = len(latencies)
    return Result(name, backlog, n * messages, n * requests, elapsed, latencies)


# ---------------------------------------------------------------- subprocess servers


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "listening on " not in line:
        process.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return process, line.split("listening on ", 1)[1]


def _noop_server_main() -> None:
    async def noop(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"{}", content_type="application/json")

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", noop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"noop listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# ---------------------------------------------------------------- measurements


async def bench_noop(url: str, seconds: float) -> Result:
    async with aiohttp.ClientSession(headers={"Content-Type": "application/json"}) as session:
        payload = b'{"messages":[{"body":"aGVsbG8="}]}'

        async def step() -> None:
            async with session.post(url + "/v1/queues/q/messages", data=payload) as response:
                await response.read()

        return await measure("no-op aiohttp handler", "-", seconds, step, 1, 1)


async def bench_emulator(url: str, seconds: float) -> list[Result]:
    results: list[Result] = []
    async with EmulatorControl(url) as control:
        await control.reset()
    provider = await EmulatorProvider.connect(EmulatorConfig(url=url))
    try:
        body = Message(b"x" * 100)
        for label, backlog in (("~0", 0), ("10,000", BACKLOG)):
            queue = QueueName(f"bench-{backlog}")
            await provider.create_queue(queue, QueueOptions(lock_duration=timedelta(minutes=5)))
            for _ in range(backlog // 1000):
                await provider.send_messages(queue, [body] * 1000)

            async def send_one(queue: QueueName = queue) -> None:
                await provider.send_messages(queue, [body])

            async def send_batch(queue: QueueName = queue) -> None:
                await provider.send_messages(queue, [body] * BATCH)

            async def round_trip(queue: QueueName = queue) -> None:
                await provider.send_messages(queue, [body])
                [got] = await provider.receive_messages(queue, 1, NOW)
                await provider.complete(got.receipt_handle)

            async def round_trip_batch(queue: QueueName = queue) -> None:
                await provider.send_messages(queue, [body] * BATCH)
                got = await provider.receive_messages(queue, BATCH, NOW)
                await provider.complete_messages([m.receipt_handle for m in got])

            async def drain(queue: QueueName = queue, keep: int = backlog) -> None:
                """Send-only runs grow the queue: bring it back to its backlog before the round trips."""
                while (await provider.get_queue(queue)).active_count > keep:
                    extra = (await provider.get_queue(queue)).active_count - keep
                    got = await provider.receive_messages(queue, min(extra, 1000), NOW)
                    await asyncio.gather(*(provider.complete(m.receipt_handle) for m in got))

            results.append(await measure("emulator send x1", label, seconds, send_one, 1, 1))
            results.append(await measure(f"emulator send x{BATCH}", label, seconds, send_batch, BATCH, 1))
            await drain()
            results.append(await measure("emulator round trip x1", label, seconds, round_trip, 1, 3))
            results.append(
                await measure(f"emulator round trip x{BATCH}", label, seconds, round_trip_batch, BATCH, 3)
            )
    finally:
        await provider.aclose()
    return results


def bench_moto(seconds: float) -> list[Result]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="x", aws_secret_access_key="x")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]

        def run(name: str, step: Callable[[], None], messages: int, requests: int) -> Result:
            for _ in range(5):
                step()
            latencies = []
            started = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                step()
                t1 = time.perf_counter()
                latencies.append(t1 - t0)
                if t1 - started >= seconds:
                    break
            n = len(latencies)
            return Result(name, "~0", n * messages, n * requests, time.perf_counter() - started, latencies)

        def send_one() -> None:
            sqs.send_message(QueueUrl=url, MessageBody="x" * 100)

        def round_trip() -> None:
            sqs.send_message(QueueUrl=url, MessageBody="x" * 100)
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

        entries = [{"Id": str(i), "MessageBody": "x" * 100} for i in range(10)]

        def round_trip_batch() -> None:
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if got:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
                )

        results = [run("moto+boto3 send x1", send_one, 1, 1)]
        sqs.purge_queue(QueueUrl=url)
        results.append(run("moto+boto3 round trip x1", round_trip, 1, 3))
        results.append(run("moto+boto3 round trip x10", round_trip_batch, 10, 3))
        return results
    finally:
        server.stop()


# ---------------------------------------------------------------- report


def report(results: list[Result], noop: Result) -> None:
    header = f"{'scenario':<28}{'backlog':>9}{'msgs/s':>11}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'req cost':>10}"
    print(header)
    print("-" * len(header))
    for r in [noop, *results]:
        ratio = r.request_cost_ms / noop.request_cost_ms
        print(f"{r.name:<28}{r.backlog:>9}{r.messages_per_second:>11,.0f}{r.requests / r.seconds:>10,.0f}"
              f"{r.percentile(0.5):>9.2f}{r.percentile(0.99):>9.2f}{ratio:>9.2f}x")
    by = {(r.name, r.backlog): r for r in results}
    print()
    print("targets:")
    worst = max(r.request_cost_ms / noop.request_cost_ms for r in results if r.name.startswith("emulator") and
                r.name.endswith("x1"))
    print(f"  emulator request cost <= 2x no-op (single-message ops): worst {worst:.2f}x "
          f"{'OK' if worst <= 2 else 'MISSED'}")
    for name in ("emulator send x1", "emulator round trip x1", f"emulator round trip x{BATCH}"):
        empty, full = by[(name, "~0")], by[(name, "10,000")]
        ratio = full.messages_per_second / empty.messages_per_second
        verdict = "OK" if ratio >= 0.85 else "MISSED"
        print(f"  {name}: rate with 10,000 waiting / rate with none = {ratio:.2f} {verdict}")
    batched = by[(f"emulator round trip x{BATCH}", "~0")].messages_per_second
    print(f"  batched round trip (x{BATCH}) > 20,000 msgs/s: {batched:,.0f} {'OK' if batched > 20_000 else 'MISSED'}")


async def main_async(args: argparse.Namespace) -> None:
    processes: list[subprocess.Popen[str]] = []
    try:
        url = args.url
        if url is None:
            process, url = _start([sys.executable, "-m", "queue_emulator", "--port", "0", "--max-batch-size", "1000",
                                   "--log-level", "warning", "--no-admin"])
            processes.append(process)
        process, noop_url = _start([sys.executable, __file__, "--noop-server"])
        processes.append(process)
        noop = await bench_noop(noop_url, args.seconds)
        results = await bench_emulator(url, args.seconds)
        results += await asyncio.to_thread(bench_moto, args.seconds)
        report(results, noop)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running emulator (default: start one)")
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement")
    parser.add_argument("--noop-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_server:
        _noop_server_main()
        return
    started = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\ntotal run time {statistics.fmean([time.perf_counter() - started]):.0f}s")


if __name__ == "__main__":
    main()
