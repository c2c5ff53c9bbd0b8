"""The codebase stays ruff-clean and mypy --strict clean (the promise of py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "queue_runtime",
    "emulator/queue_emulator",
    "pytest_plugin/pytest_queue_runtime",
    "contract_tests/queue_contract_tests",
]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_mypy_strict_finds_nothing() -> None:
    result = run("mypy", "--strict", *PACKAGES)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
