"""``--queue-emulator=docker``: the session's emulator is the emulator's container image, started with the
testcontainers module ``queue_emulator.containers`` (extra ``queue-runtime[containers]``).

Both checks end in one line: :func:`docker_problem` (is there an engine at all; the plugin asks it at configure
time, so a run without Docker stops before collection) and :func:`start_docker` (the image, the start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..targets import EmulatorHandle

__all__ = ["docker_problem", "start_docker"]

_HINT = "build it with `python emulator/container/build.py` in a queue-runtime checkout, or pass --queue-emulator-image"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:400] + ("..." if len(text) > 400 else "") or type(exc).__name__


def docker_problem() -> str | None:
    """None when docker mode can run here, else one line saying what is missing."""
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        return "testcontainers is not installed: pip install 'queue-runtime[containers]'"
    try:
        client = DockerClient(timeout=10)
        try:
            client.client.ping()
        finally:
            client.client.close()
    except Exception as exc:  # docker.errors.DockerException and the transport's errors alike
        return f"no Docker engine reachable ({_one_line(exc)})"
    return None


def start_docker(clock: str, image: str | None = None) -> tuple[EmulatorHandle, Callable[[], None]]:
    """Start the emulator's image on free host ports and wait until it answers; returns the handle and a
    function that removes the container."""
    problem = docker_problem()
    if problem is not None:
        raise pytest.UsageError(f"--queue-emulator=docker: {problem}")
    import docker.errors
    from queue_emulator.containers import DEFAULT_IMAGE, QueueEmulatorContainer

    chosen = image or DEFAULT_IMAGE
    container: Any = QueueEmulatorContainer(chosen).with_manual_clock(clock == "manual")
    images = container.get_docker_client().client.images
    try:
        images.get(chosen)
    except docker.errors.ImageNotFound:
        try:
            images.pull(chosen)
        except docker.errors.DockerException as exc:
            raise pytest.UsageError(
                f"--queue-emulator=docker: image {chosen} is not on this Docker engine and cannot be pulled "
                f"({_one_line(exc)}); {_HINT}"
            ) from None
    try:
        container.start()
    except Exception as exc:
        raise pytest.UsageError(f"--queue-emulator=docker: {_one_line(exc)}") from None
    handle = EmulatorHandle(
        url=container.get_http_url(),
        mode="docker",
        clock_mode=clock,
        container_id=container.get_container_id(),
        reachable_connection_string=container.get_connection_string(),
    )
    return handle, container.stop
