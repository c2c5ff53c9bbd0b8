"""Tests through the emulator's real container image.

They need a Docker engine. Without one they are skipped, and the skip says why. With
QUEUE_RUNTIME_REQUIRE_DOCKER=1 a missing engine is a failure instead. .ci/run sets up the engine in the background
and names a status file in QUEUE_RUNTIME_DOCKER_STATUS: the tests wait until it exists, then treat "ready" as
"required" (a green CI cannot hide skipped container tests) and "unavailable: REASON" as the skip reason.
The image is (re)built by emulator/container/build.py when it is missing or older than the sources; the base
image is kept between builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# testcontainers reads these when it is first imported. Ryuk (its reaper) is an image from a registry, which is
# not reachable everywhere; the tests remove their containers themselves (and test that they do). A machine with
# /.dockerenv would otherwise reach published ports through the bridge gateway instead of the host.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "emulator" / "container" / "build.py"
STATUS_ENV = "QUEUE_RUNTIME_DOCKER_STATUS"
REQUIRE_ENV = "QUEUE_RUNTIME_REQUIRE_DOCKER"
LABEL = "io.queue-runtime.test"
STATUS_WAIT = 900.0


def engine_state() -> tuple[str | None, bool]:
    """(what is wrong, or None; whether an engine is required)."""
    from pytest_queue_runtime.factories.container import docker_problem

    required = bool(os.environ.get(REQUIRE_ENV))
    named = os.environ.get(STATUS_ENV)
    if named:
        path, deadline = Path(named), time.monotonic() + STATUS_WAIT
        while not path.exists():
            if time.monotonic() > deadline:
                return f"{STATUS_ENV}: {named} was not written within {STATUS_WAIT:.0f} s", True
            time.sleep(0.5)
        status = path.read_text().strip()
        if status.startswith("unavailable:"):
            return status.removeprefix("unavailable:").strip(), required
        required = True
    return docker_problem(), required


@pytest.fixture(scope="session")
def emulator_image() -> str:
    """The emulator image, built from this checkout; skips (or fails, when required) without an engine."""
    problem, required = engine_state()
    if problem is not None:
        if required:
            pytest.fail(f"a Docker engine is required here but unusable: {problem}", pytrace=False)
        pytest.skip(f"container tests need a Docker engine: {problem}")
    from queue_emulator.containers import DEFAULT_IMAGE

    built = subprocess.run(
        [sys.executable, str(BUILD), "--quiet", "--image", DEFAULT_IMAGE],
        capture_output=True, text=True, timeout=900, check=False,
    )
    if built.returncode != 0:
        pytest.fail(f"building {DEFAULT_IMAGE} failed:\n{built.stdout}{built.stderr}", pytrace=False)
    return DEFAULT_IMAGE


def containers_with(label: str) -> list[str]:
    """Ids of every container, running or not, that carries ``label`` (``key`` or ``key=value``)."""
    found = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", f"label={label}"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return found.stdout.split()


def container_exists(container_id: str) -> bool:
    found = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", f"id={container_id}"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return bool(found.stdout.strip())


@pytest.fixture
def test_label(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A label unique to this test; after the test no container may carry it."""
    value = f"{os.getpid()}-{abs(hash(request.node.nodeid))}"
    yield {LABEL: value}
    left = containers_with(f"{LABEL}={value}")
    if left:
        subprocess.run(["docker", "rm", "--force", *left], capture_output=True, timeout=60, check=False)
        pytest.fail(f"the test left containers behind: {left}")
