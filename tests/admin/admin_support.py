"""Helpers of the administration tests (a module of its own: ``conftest`` names clash across test folders)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from queue_emulator.runner import EmulatorThread


def advance(emulator: EmulatorThread, seconds: float) -> None:
    request = urllib.request.Request(f"{emulator.url}/v1/_control/clock/advance", method="POST",
                                     data=json.dumps({"seconds": seconds}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def rest(emulator: EmulatorThread, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One call to the emulator's REST API (the other front on the same engine)."""
    request = urllib.request.Request(f"{emulator.url}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
        return json.loads(text) if text else None
