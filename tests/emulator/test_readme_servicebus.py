"""The README's Azure SDK example, run as written against a real `queue-emulator --auto-create` process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.fixture
def emulator_process() -> Iterator[tuple[str, str]]:
    command = [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0", "--admin-port", "0",
               "--admin-tls-port", "0", "--auto-create"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        url = connection = ""
        for line in process.stdout:
            if line.startswith("queue-emulator listening on "):
                url = line.split()[-1]
            if "connection string" in line:
                connection = line.split("connection string", 1)[1].strip()
                break
        assert url and connection.startswith("Endpoint=sb://127.0.0.1:"), "the emulator did not print them"
        yield url, connection
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_readme_sdk_example_runs_against_the_emulator(emulator_process: tuple[str, str]) -> None:
    url, connection = emulator_process
    example = next(b for b in BLOCK.findall((ROOT / "README.md").read_text()) if "ServiceBusClient" in b)
    documented = re.search(r'CONNECTION_STRING = "([^"]+)"', example)
    assert documented is not None
    # The README shows the default port 5672; this emulator listens on a free one, the rest is the same.
    assert documented.group(1).replace("5672", "PORT") == re.sub(r":\d+;", ":PORT;", connection, count=1)
    code = example.replace(documented.group(1), connection)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # The send auto-created the queue; the receive loop completed what was sent.
    with urllib.request.urlopen(f"{url}/v1/queues/orders", timeout=10) as answer:
        queue = json.loads(answer.read())
    assert (queue["active_count"], queue["locked_count"], queue["dead_letter_count"]) == (0, 0, 0)
