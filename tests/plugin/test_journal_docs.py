"""docs/journal.md runs as written: its Python example as a script, its pytest example as a user's test file
(against memory and the emulator), and its curl lines against a running emulator."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _runner import REPO, run_pytest
from queue_emulator.runner import EmulatorThread
from queue_emulator.settings import EmulatorSettings

DOC = (REPO / "docs" / "journal.md").read_text()
PYTHON = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)
SCRIPTS = [code for code in PYTHON if not code.startswith("# test_")]
TEST_FILES = [code for code in PYTHON if code.startswith("# test_")]
INI = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"


def test_the_doc_has_examples() -> None:
    assert SCRIPTS and TEST_FILES


@pytest.mark.parametrize("code", SCRIPTS)
def test_python_example_runs(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "completed" in result.stdout and "id=o-1" in result.stdout


@pytest.mark.parametrize("provider", ["memory", "emulator"])
def test_pytest_example_passes(pytester: pytest.Pytester, provider: str) -> None:
    pytester.makefile(".ini", pytest=INI)
    for code in TEST_FILES:
        name = code.splitlines()[0].removeprefix("# ").strip()
        (Path(pytester.path) / name).write_text(textwrap.dedent(code))
    result = run_pytest(f"--queue-provider={provider}", cwd=pytester.path)
    assert result.returncode == 0 and result.count("passed") == len(TEST_FILES), result.output[-3000:]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_lines_answer() -> None:
    block = re.search(r"```bash\n(.*?)```", DOC, re.DOTALL)
    assert block is not None
    with EmulatorThread(EmulatorSettings()) as emulator:
        host = emulator.url.removeprefix("http://").rstrip("/")
        lines = [line.split("  #")[0].replace("localhost:8080", host) for line in block.group(1).splitlines()
                 if line.strip() and "/follow" not in line]
        for line in lines:
            done = subprocess.run(["bash", "-c", line + " --fail-with-body"], capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0 and done.stdout.startswith("{"), (line, done.stdout, done.stderr)
