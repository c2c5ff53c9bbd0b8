"""What the queue fixtures talk to.

A :class:`ProviderTarget` is the one object the client factory receives, whatever the provider and however the
emulator was reached: its name (shown in test ids and reports) and an async ``open_provider()`` that makes a
fresh ``QueueProvider`` on the shared backend. :class:`EmulatorHandle` has the same shape in the in-process,
subprocess, docker and URL modes. Nothing downstream branches on the provider name or the emulator mode.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from queue_runtime import Capabilities, QueueConfig, QueueProvider
from queue_runtime.ports import ClockControl, FaultControl

__all__ = ["EmulatorHandle", "ProviderTarget", "run_in_thread"]

T = TypeVar("T")


def run_in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a helper thread
    (safe whether or not a loop runs here)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name="queue-runtime-probe", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@dataclass(eq=False)
class ProviderTarget:
    """A provider the fixtures can open clients on. ``open_provider`` is called once per client."""

    name: str
    open_provider: Callable[[], Awaitable[QueueProvider]]
    config: QueueConfig = field(default_factory=QueueConfig)
    description: str = ""
    _capabilities: Capabilities | None = None

    @property
    def capabilities(self) -> Capabilities:
        """What the provider declares (read once from a probe provider, then cached)."""
        if self._capabilities is None:

            async def probe() -> Capabilities:
                provider = await self.open_provider()
                try:
                    return provider.capabilities
                finally:
                    await provider.aclose()

            self._capabilities = run_in_thread(probe)
        return self._capabilities

    def __repr__(self) -> str:
        return f"ProviderTarget({self.name!r}{', ' + self.description if self.description else ''})"


class _PerCallClock(ClockControl):
    """The emulator's virtual clock, opening a short-lived control connection on the caller's loop."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self._handle = handle

    async def now(self) -> datetime:
        return await self._handle._with_control(lambda control: control.clock.now())  # type: ignore[no-any-return]

    async def advance(self, delta: timedelta) -> datetime:
        return await self._handle._with_control(  # type: ignore[no-any-return]
            lambda control: control.clock.advance(delta)
        )


class _PerCallFaults(FaultControl):
    def __init__(self, handle: EmulatorHandle) -> None:
        self._handle = handle

    async def inject(
        self,
        operation: str,
        *,
        error: str = "service_unavailable",
        count: int = 1,
        latency: timedelta | None = None,
        queue: str | None = None,
    ) -> None:
        await self._handle._with_control(
            lambda control: control.faults.inject(
                operation, error=error, count=count, latency=latency, queue=queue
            )
        )

    async def clear(self) -> None:
        await self._handle._with_control(lambda control: control.faults.clear())


_WILDCARD_ENDPOINT = re.compile(r"(Endpoint=sb://)(0\.0\.0\.0|\[::\]|::)(:\d+;)")


def _reachable(connection_string: str, url: str) -> str:
    """An emulator bound to every interface (a container) reports ``sb://0.0.0.0:PORT``: from here it is reached
    at the host of its URL. The port stays the emulator's own (published one to one by CI service containers)."""
    host = urlsplit(url).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return _WILDCARD_ENDPOINT.sub(lambda m: f"{m.group(1)}{host}{m.group(3)}", connection_string, count=1)


@dataclass(eq=False)
class EmulatorHandle:
    """A running emulator: its URL, how it was reached, and its control endpoints.

    The methods open a control connection on the calling event loop and close it again, so the session-scoped
    handle works from any test's loop.
    """

    url: str
    mode: str
    clock_mode: str = "unknown"
    pid: int | None = None
    container_id: str | None = None
    # Set where the emulator's own answer names an address valid only inside its container (docker mode).
    reachable_connection_string: str | None = None
    _info: dict[str, Any] | None = None

    def info(self) -> dict[str, Any]:
        """The server's ``GET /v1/info`` (limits, clock, AMQP port), fetched once."""
        if self._info is None:
            import json
            import urllib.request

            with urllib.request.urlopen(f"{self.url}/v1/info", timeout=10) as answer:
                self._info = json.loads(answer.read())
        return self._info

    @property
    def servicebus_connection_string(self) -> str | None:
        """The azure-servicebus connection string of the emulator's AMQP front (None if it has none)."""
        if self.reachable_connection_string is not None:
            return self.reachable_connection_string
        value = self.info().get("servicebus_connection_string")
        return _reachable(str(value), self.url) if value else None

    def control(self) -> Any:
        """A new ``queue_runtime.providers.emulator.EmulatorControl``;
        close it with ``await control.aclose()``."""
        from queue_runtime.providers.emulator import EmulatorControl

        return EmulatorControl(self.url)

    async def _with_control(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        control = self.control()
        try:
            return await call(control)
        finally:
            await control.aclose()

    async def reset(self) -> None:
        """Forget every queue and message in the emulator (every test using it is affected)."""
        await self._with_control(lambda control: control.reset())

    async def stats(self) -> Any:
        return await self._with_control(lambda control: control.stats())

    @property
    def clock(self) -> ClockControl:
        return _PerCallClock(self)

    @property
    def faults(self) -> FaultControl:
        return _PerCallFaults(self)
