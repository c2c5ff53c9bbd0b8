"""``queue_servicebus_admin``: the azure-servicebus ``ServiceBusAdministrationClient`` of the session's emulator,
its connection string and CA file taken from the emulator's ``GET /v1/info`` (see docs/administration.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..targets import EmulatorHandle

__all__ = ["queue_servicebus_admin"]


def queue_servicebus_admin(emulator_fixture: str = "queue_emulator") -> Any:
    """A test fixture: a sync administration client (HTTPS, trusting the emulator's generated CA only).

    Skips when the emulator serves no administration endpoint (``--no-admin``); a usage error when
    azure-servicebus is not installed or the emulator checks SAS keys (its connection string then has no key).
    The CA file is a path on the emulator's machine: an emulator at a URL must share this file system.
    """

    @pytest.fixture
    def queue_servicebus_admin_fixture(request: pytest.FixtureRequest) -> Iterator[Any]:
        handle = request.getfixturevalue(emulator_fixture)
        assert isinstance(handle, EmulatorHandle)
        info = handle.info()
        connection, ca_path = info.get("servicebus_admin_connection_string"), info.get("ca_path")
        if not connection or not ca_path:
            pytest.skip(f"the emulator at {handle.url} serves no administration endpoint (started with --no-admin)")
        if "<your --sas-key>" in connection:
            raise pytest.UsageError(
                "queue_servicebus_admin: this emulator checks SAS keys; build the client yourself with "
                "ServiceBusAdministrationClient.from_connection_string(<connection string with the key>, "
                "connection_verify=<ca_path from /v1/info>)"
            )
        try:
            from azure.servicebus.management import ServiceBusAdministrationClient
        except ImportError as exc:
            raise pytest.UsageError(
                "queue_servicebus_admin needs azure-servicebus: pip install 'queue-runtime[servicebus]'"
            ) from exc
        with ServiceBusAdministrationClient.from_connection_string(
            str(connection), connection_verify=str(ca_path), retry_total=0
        ) as client:
            yield client

    return queue_servicebus_admin_fixture
