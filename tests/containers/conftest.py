"""Tests through the emulator's real container image.

They need a Docker engine. Without one they are skipped, and the skip says why (the engine's own error, or the
reason .ci/run gives in QUEUE_RUNTIME_DOCKER_UNAVAILABLE). With QUEUE_RUNTIME_REQUIRE_DOCKER=1 (.ci/run sets it
once its engine answers) a missing engine is a failure instead, so a green CI cannot hide skipped container tests.
The image is (re)built by emulator/container/build.py when it is missing or older than the sources; the base
image is kept between builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
UNAVAILABLE_ENV = "QUEUE_RUNTIME_DOCKER_UNAVAILABLE"
REQUIRE_ENV = "QUEUE_RUNTIME_REQUIRE_DOCKER"
LABEL = "io.queue-runtime.test"


def docker_problem() -> str | None:
    from pytest_queue_runtime.factories.container import docker_problem as problem

    given = os.environ.get(UNAVAILABLE_ENV, "").strip()
    return given or problem()


@pytest.fixture(scope="session")
def emulator_image() -> str:
    """The emulator image, built from this checkout; skips (or fails, under REQUIRE) without an engine."""
    problem = docker_problem()
    if problem is not None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but Docker is unusable: {problem}", pytrace=False)
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
