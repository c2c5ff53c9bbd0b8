"""Every Python block of README.md and docs/ runs the way a user would run it.

Blocks are found automatically in README.md and every ``docs/**/*.md``, so a new block is tested as soon as it is
written. What a block is, is decided by an HTML comment on the line just before its opening fence, else by its
content:

- ``<!-- fragment -->``: part of a larger program (a method body, a conftest excerpt, an SDK that is not installed):
  only compiled, never run.
- ``<!-- run: emulator ARGS -->``: a script run while ``queue-emulator ARGS`` runs (started on free ports; the
  documented ``127.0.0.1:8080`` and ``127.0.0.1:5672`` are replaced by the ports it printed, and
  ``CONNECTION_STRING`` is set to its connection string when the block uses it without defining it).
- a block with a top-level ``def test_...``: a pytest test, run by ``pytest`` in a fresh project whose
  ``pyproject.toml`` is the documented minimal block (docs/pytest-plugin.md), with no other configuration.
- anything else: a script, run with ``python example.py`` in an empty folder.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
MARKER = re.compile(r"<!--\s*(fragment|run:\s*emulator[^>]*?)\s*-->\s*$")
TOML = re.compile(r"^```toml\n(.*?)^```", re.DOTALL | re.MULTILINE)
USER_PROJECT_DOC = ROOT / "docs" / "pytest-plugin.md"


@dataclass(frozen=True)
class Block:
    where: str
    code: str
    kind: str  # fragment | emulator | test | script
    emulator_args: tuple[str, ...] = ()


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks() -> list[Block]:
    found = []
    for document in _documents():
        text = document.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            where = f"{document.relative_to(ROOT)}:{line}"
            code = match.group(1)
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = MARKER.search(before)
            if marker and marker.group(1) == "fragment":
                found.append(Block(where, code, "fragment"))
            elif marker:
                args = tuple(marker.group(1).split(":", 1)[1].split()[1:])
                found.append(Block(where, code, "emulator", args))
            elif re.search(r"^(async )?def test_", code, re.MULTILINE):
                found.append(Block(where, code, "test"))
            else:
                found.append(Block(where, code, "script"))
    return found


BLOCKS = _blocks()


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: this checkout importable (as an install would make it), none of the
    settings this repository's own test run has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "QUEUE_"))}
    paths = [ROOT, ROOT / "emulator", ROOT / "pytest_plugin", ROOT / "contract_tests"]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def user_pyproject() -> str:
    """The one minimal ``pyproject.toml`` the docs give users (the block with ``[tool.pytest.ini_options]``)."""
    blocks = [b for b in TOML.findall(USER_PROJECT_DOC.read_text()) if "[tool.pytest.ini_options]" in b]
    assert blocks, "docs/pytest-plugin.md has no pyproject.toml block for users"
    return blocks[0]


def test_blocks_are_found_in_every_document() -> None:
    kinds = {block.kind for block in BLOCKS}
    assert {"script", "test", "fragment", "emulator"} <= kinds, kinds
    assert any(b.where.startswith("README.md") and b.kind == "test" for b in BLOCKS)


def test_the_readme_shows_the_same_user_pyproject() -> None:
    readme = [b for b in TOML.findall((ROOT / "README.md").read_text()) if "[tool.pytest.ini_options]" in b]
    assert readme == [user_pyproject()], "README.md and docs/pytest-plugin.md must give the same block"


def _ids(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind == kind]


@pytest.mark.parametrize("block", _ids("fragment"), ids=lambda b: b.where)
def test_fragment_compiles(block: Block) -> None:
    compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.parametrize("block", _ids("script"), ids=lambda b: b.where)
def test_script_runs(block: Block, tmp_path: Path) -> None:
    (tmp_path / "example.py").write_text(block.code)
    result = subprocess.run(
        [sys.executable, "example.py"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_user_env()
    )
    assert result.returncode == 0, f"{block.where} failed:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("block", _ids("test"), ids=lambda b: b.where)
def test_pytest_example_passes_in_a_fresh_project(block: Block, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(user_pyproject())
    (tmp_path / "test_example.py").write_text(block.code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=_user_env(),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.where} failed:\n{output[-3000:]}"
    tests = len(re.findall(r"^(?:async )?def test_", block.code, re.MULTILINE))
    assert f"{tests} passed" in output.splitlines()[-1], output[-3000:]
    assert "skipped" not in output.splitlines()[-1] and "warning" not in output.splitlines()[-1], output[-3000:]


@pytest.fixture
def emulator_for(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, str]]:
    block: Block = request.param
    command = [sys.executable, "-m", "queue_emulator", "--port", "0", "--amqp-port", "0",
        "--admin-port", "0", "--admin-tls-port", "0", *block.emulator_args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env=_user_env(),
    )
    try:
        assert process.stdout is not None
        url = connection = ""
        for line in process.stdout:
            if line.startswith("queue-emulator listening on "):
                url = line.split()[-1].rstrip("/")
            if "connection string" in line:
                connection = line.split("connection string", 1)[1].strip()
                break
        assert url and connection, "the emulator did not print its URL and connection string"
        amqp_port = int(re.search(r"sb://127\.0\.0\.1:(\d+)", connection).group(1))  # type: ignore[union-attr]
        yield url, amqp_port, connection
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("emulator_for", _ids("emulator"), ids=lambda b: b.where, indirect=True)
def test_script_runs_against_a_running_emulator(
    emulator_for: tuple[str, int, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    block: Block = request.node.callspec.params["emulator_for"]
    url, amqp_port, connection = emulator_for
    code = block.code.replace("http://127.0.0.1:8080", url).replace("127.0.0.1:8080", url.split("//", 1)[1])
    code = code.replace("127.0.0.1:5672", f"127.0.0.1:{amqp_port}")
    if "CONNECTION_STRING" in code and not re.search(r"^CONNECTION_STRING\s*=", code, re.MULTILINE):
        code = f"CONNECTION_STRING = {connection!r}\n" + code
    (tmp_path / "example.py").write_text(code)
    result = subprocess.run(
        [sys.executable, "example.py"], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_user_env()
    )
    assert result.returncode == 0, f"{block.where} failed:\n{result.stderr[-3000:]}"
