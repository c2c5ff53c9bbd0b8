"""``queue_emulator_noproc``: use an emulator that is already running (a CI service container,
a shared dev box)."""

from __future__ import annotations

from typing import Any

import pytest

from ..config import get_config
from ..targets import EmulatorHandle

__all__ = ["queue_emulator", "queue_emulator_noproc"]


def queue_emulator_noproc(url: str | None = None) -> Any:
    """A session fixture for the emulator at ``url`` (None: the URL given to ``--queue-emulator``)."""

    @pytest.fixture(scope="session")
    def queue_emulator_noproc_fixture(request: pytest.FixtureRequest) -> EmulatorHandle:
        target = url or get_config(request.config).emulator_url
        if target is None:
            raise pytest.UsageError(
                "queue_emulator_noproc needs a URL: pass --queue-emulator=http://host:port "
                "(or ini queue_emulator, or env PYTEST_QUEUE_EMULATOR)"
            )
        return EmulatorHandle(url=target.rstrip("/"), mode="url")

    return queue_emulator_noproc_fixture


def queue_emulator(
    proc_fixture: str = "queue_emulator_proc", noproc_fixture: str = "queue_emulator_noproc"
) -> Any:
    """The session's emulator: the ``noproc`` fixture when ``--queue-emulator`` is a URL, else the ``proc``
    one. Both give an :class:`EmulatorHandle`, so nothing after this point cares which mode ran."""

    @pytest.fixture(scope="session")
    def queue_emulator_fixture(request: pytest.FixtureRequest) -> EmulatorHandle:
        use_url = get_config(request.config).emulator_url is not None
        handle = request.getfixturevalue(noproc_fixture if use_url else proc_fixture)
        assert isinstance(handle, EmulatorHandle)
        return handle

    return queue_emulator_fixture
