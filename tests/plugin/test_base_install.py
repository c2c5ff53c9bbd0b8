"""The base install (no extras) with pytest present: the ``pytest11`` entry point must not break any pytest run.

A plain venv (it sees nothing of this one) gets the built wheel and exactly the base dependencies plus pytest,
installed with ``--no-deps`` at the versions this environment has, so pip takes them from its cache and never
resolves anything. Then pytest runs in a fresh project there, the way a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _closure(roots: list[str]) -> list[str]:
    """``name==version`` for the roots and everything they require here (markers evaluated, no extras)."""
    seen: dict[str, str] = {}
    todo = [Requirement(root) for root in roots]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        distribution = metadata.distribution(requirement.name)
        seen[key] = distribution.version
        todo += [Requirement(text) for text in distribution.requires or []]
    return sorted(f"{name}=={version}" for name, version in seen.items())


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("base-install")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("queue_runtime-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    base = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel),
         *_closure([*base, "pytest"])],
        check=True,
        capture_output=True,
        timeout=300,
    )
    yield python


def _pytest(python: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV")}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_QUEUE_")}
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _project(tmp_path: Path, source: str) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "consumer"\nversion = "0"\n')
    (tmp_path / "test_consumer.py").write_text(source)
    return tmp_path


def test_the_venv_has_only_the_base_install(base_venv: Path) -> None:
    found = subprocess.run(
        [str(base_venv), "-c", "import importlib.util as u; print([m for m in ('pytest_asyncio', 'faker', "
         "'aiohttp', 'moto', 'queue_runtime', 'pytest_queue_runtime') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    )
    assert found.stdout.strip() == "['queue_runtime', 'pytest_queue_runtime']"


def test_unrelated_tests_run_with_the_plugin_loaded(base_venv: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, "def test_plain():\n    assert 1 + 1 == 2\n")
    result = _pytest(base_venv, project, "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Error while loading plugin" not in result.stdout + result.stderr
    assert "1 passed" in result.stdout
    helped = _pytest(base_venv, project, "--help")
    assert "--queue-provider" in helped.stdout  # the plugin is there, registered by the entry point


def test_a_queue_fixture_names_the_extra_once(base_venv: Path, tmp_path: Path) -> None:
    source = "".join(f"def test_{i}(queue_client):\n    pass\n\n" for i in range(3))
    project = _project(tmp_path, source + "def test_plain():\n    pass\n")
    result = _pytest(base_venv, project, "-q")
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, output
    assert "'pytest' extra" in errors[0] and "pytest_asyncio" in errors[0] and "[pytest]" in errors[0]
    assert "Traceback" not in output


def test_a_queue_option_names_the_extra(base_venv: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, "def test_plain():\n    pass\n")
    result = _pytest(base_venv, project, "-q", "--queue-provider=memory")
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("ERROR:")]
    assert result.returncode == pytest.ExitCode.USAGE_ERROR and len(errors) == 1
    assert "'pytest' extra" in errors[0]


METADATA_PROBE = """
import json, logging
from importlib import metadata
import queue_runtime
meta = metadata.metadata("queue-runtime")
files = [str(f) for f in metadata.files("queue-runtime") or []]
print(json.dumps({
    "classifiers": meta.get_all("Classifier") or [],
    "urls": meta.get_all("Project-URL") or [],
    "keywords": meta.get("Keywords") or "",
    "license_files": [f for f in files if f.endswith("LICENSE")],
    "null_handler": any(isinstance(h, logging.NullHandler) for h in logging.getLogger("queue_runtime").handlers),
    "requires": meta.get_all("Requires-Dist") or [],
}))
"""


def test_the_wheel_carries_license_urls_classifiers_and_a_null_handler(base_venv: Path) -> None:
    import json

    found = json.loads(
        subprocess.run([str(base_venv), "-c", METADATA_PROBE], capture_output=True, text=True, check=True).stdout
    )
    assert "License :: OSI Approved :: MIT License" in found["classifiers"]
    assert any(c.startswith("Framework :: Pytest") for c in found["classifiers"])
    assert {url.split(",")[0] for url in found["urls"]} >= {"Homepage", "Repository", "Changelog", "Issues"}
    assert "pytest" in found["keywords"]
    assert found["license_files"], "LICENSE is not in the wheel"
    assert found["null_handler"]
    pytest_extra = [r for r in found["requires"] if r.replace('"', "'").endswith("extra == 'pytest'")]
    assert any(r.startswith("pytest-xdist") for r in pytest_extra), "the docs use -n: xdist must come with [pytest]"
