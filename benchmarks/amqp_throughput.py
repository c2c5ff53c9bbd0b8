"""Messages per second through the real azure-servicebus SDK against the emulator's AMQP front, with the same
loop through the REST front (``EmulatorProvider``) as reference, and the emulator's CPU time per message.

The emulator (both fronts over one engine) runs in a child process; it reports ``time.process_time()`` on request,
so the CPU figure is the server's alone. Run: ``python benchmarks/amqp_throughput.py [--messages 5000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

CHILD = r"""
import asyncio, sys, time
from aiohttp import web
from queue_emulator.amqp.servicebus import create_servicebus_server
from queue_emulator.app import create_app
from queue_runtime.broker import Broker, BrokerLimits
from queue_runtime.broker.waiting import BrokerWaiter

async def main():
    broker = Broker(limits=BrokerLimits(max_queues=1000))
    amqp = create_servicebus_server(broker, BrokerWaiter(broker), port=0)
    await amqp.start()
    runner = web.AppRunner(create_app(broker=broker))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(amqp.port, site._server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        if line.startswith("create "):
            broker.create_queue(line.split()[1])
        print(time.process_time(), flush=True)
    await amqp.close()
    await runner.cleanup()

asyncio.run(main())
"""


class Emulator:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        amqp_port, rest_port = self.proc.stdout.readline().split()
        self.amqp_port, self.rest_port = int(amqp_port), int(rest_port)

    def ask(self, command: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


async def measure(emu: Emulator, count: int, run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    cpu_before = emu.ask("cpu")
    started = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - started
    cpu = emu.ask("cpu") - cpu_before
    return count / elapsed, cpu / count * 1e6


async def sdk_rows(emu: Emulator, count: int, batch: int) -> list[tuple[str, float, float]]:
    from azure.servicebus import ServiceBusMessage
    from azure.servicebus.aio import ServiceBusClient

    queue = "bench-amqp"
    emu.ask(f"create {queue}")
    conn = (f"Endpoint=sb://127.0.0.1:{emu.amqp_port};SharedAccessKeyName=k;SharedAccessKey=v;"
            "UseDevelopmentEmulator=true")
    async with ServiceBusClient.from_connection_string(conn) as client:
        async with client.get_queue_sender(queue) as sender, client.get_queue_receiver(queue) as receiver:
            async def send() -> None:
                for start in range(0, count, batch):
                    size = min(batch, count - start)
                    await sender.send_messages([ServiceBusMessage(b"x" * 256) for _ in range(size)])

            async def receive() -> None:
                done = 0
                while done < count:
                    for message in await receiver.receive_messages(max_message_count=batch, max_wait_time=5):
                        await receiver.complete_message(message)
                        done += 1

            send_rate, send_cpu = await measure(emu, count, send)
            recv_rate, recv_cpu = await measure(emu, count, receive)
    return [("AMQP (azure-servicebus SDK)", send_rate, send_cpu), ("", recv_rate, recv_cpu)]


async def rest_rows(emu: Emulator, count: int, batch: int) -> list[tuple[str, float, float]]:
    from queue_runtime import Message
    from queue_runtime._config import EmulatorConfig
    from queue_runtime.providers.emulator import EmulatorProvider

    queue = "bench-rest"
    emu.ask(f"create {queue}")
    provider = await EmulatorProvider.connect(EmulatorConfig(url=f"http://127.0.0.1:{emu.rest_port}"))
    try:
        async def send() -> None:
            for start in range(0, count, batch):
                await provider.send_messages(queue, [Message(b"x" * 256) for _ in range(min(batch, count - start))])  # type: ignore[arg-type]

        async def receive() -> None:
            done = 0
            while done < count:
                for message in await provider.receive_messages(queue, batch, timedelta(seconds=5)):  # type: ignore[arg-type]
                    await provider.complete(message.receipt_handle)
                    done += 1

        send_rate, send_cpu = await measure(emu, count, send)
        recv_rate, recv_cpu = await measure(emu, count, receive)
    finally:
        await provider.aclose()
    return [("REST (EmulatorProvider)", send_rate, send_cpu), ("", recv_rate, recv_cpu)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    emu = Emulator()
    try:
        rows = await sdk_rows(emu, args.messages, args.batch)
        try:
            rows += await rest_rows(emu, args.messages, args.batch)
        except Exception as exc:  # the reference is optional: say why it is missing
            print(f"REST reference unavailable: {exc!r}")
    finally:
        emu.close()
    print(f"\n{args.messages} messages of 256 bytes, batches of {args.batch}, one process per side\n")
    print(f"{'front':30} {'operation':22} {'msg/s':>10} {'server CPU us/msg':>18}")
    print("-" * 83)
    for (front, rate, cpu), operation in zip(rows, ["send batch", "receive + complete"] * 2, strict=False):
        print(f"{front:30} {operation:22} {rate:10.0f} {cpu:18.1f}")


if __name__ == "__main__":
    asyncio.run(main())
