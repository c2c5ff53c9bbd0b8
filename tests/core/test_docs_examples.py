"""The Python examples in the README and the core docs run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    "README.md",
    "docs/getting-started.md",
    "docs/reliability.md",
    "docs/configuration.md",
    "docs/azure.md",
    "docs/topics.md",
]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for index, code in enumerate(BLOCK.findall((ROOT / document).read_text())):
            if "ServiceBusClient" in code:
                continue  # needs a running emulator: tests/emulator/test_readme_servicebus.py runs it
            found.append((f"{document}#{index}", code))
    return found


@pytest.mark.parametrize(("where", "code"), examples(), ids=[where for where, _ in examples()])
def test_example_runs(where: str, code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, f"{where} failed:\n{result.stderr[-2000:]}"
