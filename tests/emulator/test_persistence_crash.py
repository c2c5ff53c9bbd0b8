"""SIGKILL, several times, while a producer and a consumer work: with a data directory, every send the emulator
acknowledged is delivered, every completion it acknowledged stays done, each message is completed exactly once,
and sequence numbers are never given twice.

The emulator is a real process on a real port (the same one after every restart, as a CI service would be); the
producer and the consumer are plain HTTP clients that retry what failed, as an application would.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

MESSAGES = 400
KILLS = 5


class Unavailable(Exception):
    """The emulator did not answer (killed, or not up yet)."""


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise Unavailable(str(exc)) from exc


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Emulator:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.command = [sys.executable, "-m", "queue_emulator", "--data-dir", str(data_dir), "--port", str(port),
                        "--no-amqp", "--no-admin", "--log-level", "warning"]
        self.base = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        assert first.startswith("queue-emulator listening on"), (first, self.process.stderr.read())

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.close_pipes()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.close_pipes()

    def close_pipes(self) -> None:
        if self.process is not None:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()


class Producer(threading.Thread):
    def __init__(self, base: str) -> None:
        super().__init__(name="producer", daemon=True)
        self.base = base
        self.acknowledged: list[int] = []
        self.sequence_numbers: dict[int, int] = {}
        self.failures = 0

    def run(self) -> None:
        for i in range(MESSAGES):
            body = {"messages": [{"body": base64.b64encode(str(i).encode()).decode(), "message_id": f"m{i}"}]}
            while True:  # the same message until the emulator says it has it (dedup absorbs a resend)
                try:
                    status, answer = call(self.base, "POST", "/v1/queues/work/messages", body)
                except Unavailable:
                    self.failures += 1
                    time.sleep(0.02)
                    continue
                assert status == 200, (status, answer)
                self.acknowledged.append(i)
                self.sequence_numbers[i] = answer["sequence_numbers"][0]
                break


class Consumer(threading.Thread):
    def __init__(self, base: str) -> None:
        super().__init__(name="consumer", daemon=True)
        self.base = base
        self.deliveries: list[int] = []
        self.completed: Counter[int] = Counter()
        self.resurrected: list[int] = []  # delivered again after its completion was acknowledged
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, answer = call(self.base, "POST", "/v1/queues/work/messages/receive",
                                      {"max_messages": 20, "timeout": 0.5})
            except Unavailable:
                self.failures += 1
                time.sleep(0.02)
                continue
            assert status == 200, (status, answer)
            for message in answer["messages"]:
                number = int(base64.b64decode(message["body"]))
                self.deliveries.append(number)
                if self.completed[number]:
                    self.resurrected.append(number)
                try:
                    status, answer = call(self.base, "POST",
                                          f"/v1/queues/work/locks/{message['lock_token']}/complete", {})
                except Unavailable:
                    self.failures += 1  # unknown outcome: the message is delivered again unless it was done
                    continue
                if status == 204:
                    self.completed[number] += 1
                else:  # the lock was lost across a restart: the message comes again
                    assert status == 410, (status, answer)


def test_sigkill_loses_no_acknowledged_send_and_resurrects_no_acknowledged_completion(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path / "data", free_port())
    emulator.start()
    try:
        status, answer = call(emulator.base, "PUT", "/v1/queues/work",
                              {"lock_duration": 2, "duplicate_detection_window": 3600, "max_delivery_count": 100})
        assert status == 201, answer
        producer, consumer = Producer(emulator.base), Consumer(emulator.base)
        producer.start()
        consumer.start()
        chance = random.Random(20261201)
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.3, 1.2))
            emulator.kill()
            emulator.start()
        producer.join(timeout=120)
        assert not producer.is_alive()
        deadline = time.monotonic() + 60
        while set(consumer.completed) != set(range(MESSAGES)) and time.monotonic() < deadline:
            time.sleep(0.1)
        consumer.stop.set()
        consumer.join(timeout=30)

        assert producer.failures and consumer.failures  # the kills hit both while they worked
        assert producer.acknowledged == list(range(MESSAGES))
        assert len(set(producer.sequence_numbers.values())) == MESSAGES  # never the same number twice
        assert set(consumer.completed) == set(range(MESSAGES))  # every acknowledged send was delivered
        assert [n for n, times in consumer.completed.items() if times != 1] == []  # exactly once
        assert consumer.resurrected == []  # no acknowledged completion came back
        status, queue = call(emulator.base, "GET", "/v1/queues/work")
        assert (queue["active_count"], queue["locked_count"], queue["dead_letter_count"]) == (0, 0, 0)
    finally:
        emulator.stop()
