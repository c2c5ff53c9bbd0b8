"""The AMQP front on a loopback port, in a background thread with its own event loop.

The SDK's sync client blocks its thread, so the server cannot share it; the async client runs in the test's
loop and talks to the same background server. Engine calls from tests go through :meth:`Emulator.call`, so
the engine is only ever touched from the server's thread.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from queue_emulator.amqp.server import AmqpServer
from queue_emulator.amqp.servicebus import create_servicebus_server
from queue_emulator.faults import FaultInjector
from queue_emulator.sas import SasRule
from queue_emulator.settings import EmulatorSettings

from queue_runtime import QueueOptions
from queue_runtime.broker import Broker, BrokerLimits, Clock, ManualClock, SystemClock
from queue_runtime.broker.waiting import BrokerWaiter

T = TypeVar("T")

KEY_NAME = "RootManageSharedAccessKey"


class Emulator:
    def __init__(self, clock: Clock, *, sas_key: str | None = None, max_frame_size: int | None = None,
                 max_message_size: int = EmulatorSettings().max_message_size,
                 sas_rules: Sequence[SasRule] = ()) -> None:
        self.broker = Broker(clock, limits=BrokerLimits(max_message_size=max_message_size))
        self.faults = FaultInjector()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="amqp-emulator", daemon=True)
        self._thread.start()
        kwargs: dict[str, Any] = {}
        if max_frame_size is not None:
            kwargs["max_frame_size"] = max_frame_size
        if sas_rules:
            kwargs["sas_rules"] = tuple(sas_rules)

        async def start() -> tuple[AmqpServer, BrokerWaiter]:
            waiter = BrokerWaiter(self.broker)
            server = create_servicebus_server(self.broker, waiter, port=0, sas_key_name=KEY_NAME if sas_key else None,
                                sas_key=sas_key, faults=self.faults, **kwargs)
            await server.start()
            return server, waiter

        self.server, self.waiter = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.port = self.server.port

    def connection_string(self, key: str = "anything", key_name: str = KEY_NAME) -> str:
        return (f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName={key_name};SharedAccessKey={key};"
                "UseDevelopmentEmulator=true")

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's thread (the engine is not thread-safe)."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(10)

    def queue(self, *, sessions: bool = False, lock_seconds: float = 30, max_delivery_count: int = 10) -> str:
        name = f"q-{uuid.uuid4().hex[:10]}"
        options = QueueOptions(requires_session=sessions, lock_duration=timedelta(seconds=lock_seconds),
                               max_delivery_count=max_delivery_count)
        self.call(self.broker.create_queue, name, options)
        return name

    def advance(self, seconds: float) -> None:
        clock = self.broker.clock
        assert isinstance(clock, ManualClock)
        self.call(clock.advance, seconds)

    def counts(self, name: str) -> Any:
        return self.call(self.broker.get_queue, name)

    def close(self) -> None:
        async def stop() -> None:
            self.waiter.close()
            await self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(SystemClock())
    yield emu
    emu.close()


@pytest.fixture
def manual_emulator() -> Iterator[Emulator]:
    emu = Emulator(ManualClock())
    yield emu
    emu.close()


@pytest.fixture
def secured_emulator() -> Iterator[Emulator]:
    emu = Emulator(SystemClock(), sas_key="s3cret-key")
    yield emu
    emu.close()


@pytest.fixture
def premium_emulator() -> Iterator[Emulator]:
    """Messages up to 2 MiB, as a Premium namespace configured so would take."""
    emu = Emulator(SystemClock(), max_message_size=2 * 1024 * 1024)
    yield emu
    emu.close()
