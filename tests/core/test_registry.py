"""Finding providers by name: built-ins, ``package.module:factory`` and entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from queue_runtime import Message, PluginProviderConfig, QueueClientFactory, QueueConfig
from queue_runtime.errors import ConfigurationError
from queue_runtime.providers import create_provider, load_factory, registered_names
from queue_runtime.providers.memory import InMemoryProvider


@pytest.fixture
def adapter_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A third-party adapter on sys.path, registered through an entry point in its dist-info."""
    package = tmp_path / "acme_adapter"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from queue_runtime.providers.memory import InMemoryProvider
            from queue_runtime import InMemoryConfig

            def create(max_batch_size=100):
                return InMemoryProvider(InMemoryConfig(max_batch_size=int(max_batch_size)))

            async def create_async():
                return InMemoryProvider()

            def not_a_provider():
                return object()
            """
        )
    )
    dist = tmp_path / "acme_adapter-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-adapter\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[queue_runtime.providers]\nacme = acme_adapter:create\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "acme_adapter"
    sys.modules.pop("acme_adapter", None)


@pytest.mark.asyncio
async def test_factories_by_path_and_by_entry_point(adapter_package: str) -> None:
    assert "acme" in registered_names() and {"memory", "emulator", "sqs"} <= set(registered_names())
    by_path = await create_provider(PluginProviderConfig(name="acme_adapter:create", options={"max_batch_size": 7}))
    assert isinstance(by_path, InMemoryProvider) and by_path.capabilities.max_batch_size == 7
    assert isinstance(await create_provider(PluginProviderConfig(name="acme_adapter:create_async")), InMemoryProvider)
    config = QueueConfig(provider=PluginProviderConfig(name="acme"))
    async with await QueueClientFactory.create_client(config) as client:
        await client.create_queue("q")
        await client.send_message("q", Message(b"via entry point"))
        received = await client.receive_message("q", 0)
        assert received is not None and received.body == b"via entry point"


@pytest.mark.asyncio
async def test_bad_names_say_what_is_wrong(adapter_package: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot import provider module 'no_such_module'"):
        load_factory("no_such_module:create")
    with pytest.raises(ConfigurationError, match="has no callable 'missing'"):
        load_factory("acme_adapter:missing")
    with pytest.raises(ConfigurationError, match=r"unknown provider 'nope'; registered: .*acme"):
        load_factory("nope")
    with pytest.raises(ConfigurationError, match="returned object, not a QueueProvider"):
        await create_provider(PluginProviderConfig(name="acme_adapter:not_a_provider"))
