"""The example project under examples/ passes with --queue-provider=emulator, like a fresh user project."""

from __future__ import annotations

import subprocess
import sys

from _runner import REPO


def test_the_example_project_passes_against_the_emulator() -> None:
    done = subprocess.run(
        ["bash", str(REPO / "examples" / "pytest_project" / "run.sh")],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("2 passed") == 2, done.stdout
