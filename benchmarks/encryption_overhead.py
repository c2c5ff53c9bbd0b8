"""What body encryption costs: send, receive and complete through QueueClient on the in-memory provider, plain
against AES-256-GCM envelopes (``MessageEncryption``), for a few body sizes, in the same run.

Run: python benchmarks/encryption_overhead.py [--messages N] [--repeats R]
Prints a table: round trips per second (best of R), microseconds per round trip, and the encrypted/plain ratio;
then the cost of seal + open alone per message. The plain round trip is the baseline, measured in the same
process, interleaved with the encrypted one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime

from queue_runtime import EncryptionKey, InMemoryConfig, Message, MessageEncryption, PeekedMessage, QueueClient
from queue_runtime.providers.memory import InMemoryProvider

SIZES = (256, 4 * 1024, 64 * 1024, 256 * 1024)
ENQUEUED = datetime(2026, 1, 1, tzinfo=UTC)


async def round_trips(client: QueueClient, body: bytes, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await client.send_message("bench", Message(body))
        received = await client.receive_message("bench", 0)
        assert received is not None and received.body == body
        await client.complete_message(received)
    return time.perf_counter() - started


def seal_open(encryption: MessageEncryption, body: bytes, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        sealed = encryption.seal(Message(body))
        assert sealed.message_id is not None
        peeked = PeekedMessage(body=sealed.body, message_id=sealed.message_id, sequence_number=1,
                               enqueued_time=ENQUEUED)
        assert encryption.open(peeked).body == body
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    encryption = MessageEncryption(EncryptionKey.generate("bench"))
    plain_client = QueueClient(InMemoryProvider(InMemoryConfig(max_message_size=1024 * 1024)))
    sealed_client = QueueClient(InMemoryProvider(InMemoryConfig(max_message_size=1024 * 1024)), encryption=encryption)
    rows = []
    async with plain_client, sealed_client:
        for client in (plain_client, sealed_client):
            await client.create_queue("bench")
        for size in SIZES:
            body = os.urandom(size)
            count = args.messages if size <= 4096 else max(args.messages // 4, 100)
            plain, sealed = [], []
            for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
                plain.append(await round_trips(plain_client, body, count))
                sealed.append(await round_trips(sealed_client, body, count))
            crypto = min(seal_open(encryption, body, count) for _ in range(args.repeats))
            rows.append((size, count, min(plain), min(sealed), crypto))
    print("| body | msgs | plain msgs/s | encrypted msgs/s | plain µs | encrypted µs | ratio | seal+open µs |")
    print("|---|---|---|---|---|---|---|---|")
    for size, count, plain_s, sealed_s, crypto_s in rows:
        print(
            f"| {size // 1024 if size >= 1024 else size}{' KiB' if size >= 1024 else ' B'} | {count} "
            f"| {count / plain_s:,.0f} | {count / sealed_s:,.0f} "
            f"| {plain_s / count * 1e6:.1f} | {sealed_s / count * 1e6:.1f} | {sealed_s / plain_s:.2f}x "
            f"| {crypto_s / count * 1e6:.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
