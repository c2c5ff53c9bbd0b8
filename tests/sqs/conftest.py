"""Fixtures for the SQS provider tests: one moto server per session, a fresh provider and queue per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from sqs_support import ACCESS_KEY, SECRET, MakeProvider, sqs_config

from queue_runtime.providers.sqs import SqsProvider


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A ThreadedMotoServer on a free loopback port, for the whole test session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest_asyncio.fixture
async def make_provider(moto_endpoint: str) -> AsyncIterator[MakeProvider]:
    """``make_provider(fifo=False, clock=None, **config)``: providers closed at the end of the test."""
    made: list[SqsProvider] = []

    def make(fifo: bool = False, clock: Callable[[], float] | None = None, **settings: Any) -> SqsProvider:
        provider = SqsProvider(sqs_config(moto_endpoint, use_fifo_queues=fifo, **settings), clock=clock)
        made.append(provider)
        return provider

    yield make
    for provider in reversed(made):
        await provider.aclose()


@pytest_asyncio.fixture
async def standard(make_provider: MakeProvider) -> SqsProvider:
    return make_provider(fifo=False)


@pytest_asyncio.fixture
async def fifo(make_provider: MakeProvider) -> SqsProvider:
    return make_provider(fifo=True)


@pytest_asyncio.fixture
async def raw_sqs(moto_endpoint: str) -> AsyncIterator[Any]:
    """A plain aiobotocore client on the same moto server, to look at what really went over the wire."""
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=moto_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
    ) as client:
        yield client
