"""``queue_emulator_proc``: start an emulator for the session, in this process (a background thread), as a
``queue-emulator`` child process or as a container (``factories/container.py``), always on free ports so xdist
workers never clash."""

from __future__ import annotations

import os
import queue as stdlib_queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from ..config import get_config
from ..targets import EmulatorHandle
from .container import start_docker

__all__ = ["EmulatorProcFixture", "queue_emulator_proc", "start_inprocess", "start_subprocess"]

_READY_PREFIX = "queue-emulator listening on "
_START_TIMEOUT = 30.0


class EmulatorProcFixture(Protocol):
    def __call__(self, request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]: ...


def start_inprocess(clock: str) -> tuple[EmulatorHandle, Callable[[], None]]:
    try:
        from queue_emulator.runner import EmulatorThread
        from queue_emulator.settings import EmulatorSettings
    except ImportError as exc:
        raise pytest.UsageError(
            f"--queue-emulator=inprocess needs queue_emulator.runner ({exc}); "
            "install queue-runtime[emulator] "
            "or give the URL of a running emulator"
        ) from exc
    thread: Any = EmulatorThread(EmulatorSettings(host="127.0.0.1", port=0, clock=clock))
    thread.start()
    return EmulatorHandle(url=str(thread.url).rstrip("/"), mode="inprocess", clock_mode=clock), thread.stop


def _command() -> list[str]:
    script = Path(sys.executable).with_name("queue-emulator")
    if script.exists():
        return [str(script)]
    found = shutil.which("queue-emulator")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from queue_emulator.cli import main; sys.exit(main())"]


def start_subprocess(clock: str) -> tuple[EmulatorHandle, Callable[[], None]]:
    command = [*_command(), "--host", "127.0.0.1", "--port", "0", "--amqp-port", "0", "--admin-port", "0",
               "--admin-tls-port", "0", "--clock", clock]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: stdlib_queue.Queue[str | None] = stdlib_queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining so the child never blocks on a full pipe
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="queue-emulator-output", daemon=True).start()

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    try:
        while True:
            line = lines.get(timeout=_START_TIMEOUT)
            if line is None:
                raise RuntimeError("exited before it was ready")
            seen.append(line.rstrip())
            if line.startswith(_READY_PREFIX):
                url = line[len(_READY_PREFIX) :].strip().rstrip("/")
                return EmulatorHandle(url=url, mode="subprocess", clock_mode=clock, pid=process.pid), stop
    except (stdlib_queue.Empty, RuntimeError) as exc:
        stop()
        output = " | ".join(seen[-10:]) or "no output"
        reason = "did not print its address in time" if isinstance(exc, stdlib_queue.Empty) else str(exc)
        raise pytest.UsageError(
            f"--queue-emulator=subprocess: `{' '.join(command)}` {reason} (output: {output}); "
            "check that queue-runtime[emulator] is installed"
        ) from exc


def queue_emulator_proc(mode: str | None = None, clock: str | None = None, image: str | None = None) -> Any:
    """A session fixture that starts an emulator. ``mode``: 'inprocess', 'subprocess' or 'docker'; ``clock``:
    'manual' or 'system'; ``image``: the container image in docker mode. ``None`` takes the value from
    ``--queue-emulator`` / ``--queue-emulator-clock`` / ``--queue-emulator-image``."""

    @pytest.fixture(scope="session")
    def queue_emulator_proc_fixture(request: pytest.FixtureRequest) -> Iterator[EmulatorHandle]:
        settings = get_config(request.config)
        chosen = mode or (settings.emulator if settings.emulator_url is None else "inprocess")
        chosen_clock = clock or settings.emulator_clock
        if chosen == "docker":
            handle, stop = start_docker(chosen_clock, image or settings.emulator_image)
        else:
            start = start_subprocess if chosen == "subprocess" else start_inprocess
            handle, stop = start(chosen_clock)
        try:
            yield handle
        finally:
            stop()

    return queue_emulator_proc_fixture
