"""The five-line example of docs/servicebus-emulator.md runs as written against the emulator."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import Emulator

DOC = Path(__file__).parents[2] / "docs" / "servicebus-emulator.md"


def test_the_documented_sdk_example_works(emulator: Emulator) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    example = next(b for b in blocks if "ServiceBusClient.from_connection_string" in b)
    assert len([line for line in example.splitlines() if line.strip() and not line.startswith("from ")]) <= 6
    emulator.call(emulator.broker.create_queue, "orders")
    namespace = {"CONNECTION_STRING": emulator.connection_string()}
    exec(compile(example, str(DOC), "exec"), namespace)
    counts = emulator.counts("orders")
    assert (counts.active_count, counts.locked_count) == (0, 0)
    assert emulator.call(emulator.broker.peek, "orders", 1, 10) == []
