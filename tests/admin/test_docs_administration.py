"""docs/administration.md: every Python block runs as written against a real ``queue-emulator`` process, with
the connection strings and CA path the process printed in its banner (the docs show the default ports)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOC = ROOT / "docs" / "administration.md"


@pytest.fixture(scope="module")
def banner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tls = tmp_path_factory.mktemp("tls")
    command = [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0", "--admin-port", "0",
               "--admin-tls-port", "0", "--tls-dir", str(tls)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        found: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("  connection string"):
                found["amqp"] = line.split("connection string", 1)[1].strip()
            elif line.startswith("  admin connection string"):
                found["admin"] = line.split("connection string", 1)[1].strip()
            elif line.startswith("  CA bundle"):
                found["ca"] = line.split()[2]
                break
        assert set(found) == {"amqp", "admin", "ca"}, f"the banner lacks some of them: {found}"
        assert Path(found["ca"]) == tls / "queue-emulator-ca.pem"
        yield found
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert (tls / "queue-emulator-ca.pem").exists()  # a --tls-dir the user chose is left in place


def _blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_sync_and_async_examples() -> None:
    blocks = _blocks()
    assert any("azure.servicebus.management import" in b for b in blocks)
    assert any("azure.servicebus.aio.management import" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_each_python_block_runs_against_the_emulator(banner: dict[str, str], index: int) -> None:
    code = _blocks()[index]
    replacements = {
        r'ADMIN_CONNECTION_STRING = "[^"]+"': f'ADMIN_CONNECTION_STRING = "{banner["admin"]}"',
        r'(?<!ADMIN_)CONNECTION_STRING = "[^"]+"': f'CONNECTION_STRING = "{banner["amqp"]}"',
        r'CA_FILE = "[^"]+"': f'CA_FILE = "{banner["ca"]}"',
    }
    for pattern, value in replacements.items():
        documented = re.search(pattern, code)
        if documented is not None:
            default_port = {"ADMIN": "5301", "CONNE": "5672"}.get(documented.group(0)[:5])
            if default_port:
                assert f":{default_port};" in documented.group(0)  # the docs show the default ports
            code = re.sub(pattern, value, code)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    if "create_topic" in code:
        assert "for eu b'yes'" in result.stdout
        assert "for us" not in result.stdout
