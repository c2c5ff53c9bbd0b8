"""Run pytest in a child process and read what happened (for the plugin and teeth tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass
class Run:
    returncode: int
    output: str

    def outcomes(self, kind: str) -> set[str]:
        """Test names (without module) reported as ``kind`` (FAILED, ERROR, PASSED, SKIPPED) under -rA."""
        return {m.group(1) for m in re.finditer(rf"^{kind} \S*::(\S+?)(?: - .*)?$", self.output, re.M)}

    def count(self, word: str) -> int:
        found = re.search(rf"(\d+) {word}", self.output.splitlines()[-1] if self.output else "")
        return int(found.group(1)) if found else 0


def run_pytest(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    for name in [*(n for n in environ if n.startswith("PYTEST_QUEUE_")), "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS"]:
        environ.pop(name, None)
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(done.returncode, done.stdout + done.stderr)
